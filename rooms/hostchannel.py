"""The channel from the crew to a district host: tally, cue and how good a picture to send.

The show runner publishes every state it applies into :class:`Changes`; each
host page's WebSocket holds one subscription and renders what its studio needs.
A subscription keeps only the latest value: a slow phone skips stale states
instead of queueing them, and never holds up the crew.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")

PROGRAM, PREVIEW, OFF = "program", "preview", "off"

# A studio the crew is not about to use sends a small, cheap picture (the page applies it
# with RTCRtpSender.setParameters); preview asks for full quality again before the cut.
LOW_QUALITY = {"max_height": 180, "max_fps": 15, "max_kbps": 300}


class Changes(Generic[T]):
    """Fan-out of the latest value to any number of listeners."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[T]] = set()

    def subscribe(self, current: T | None = None) -> asyncio.Queue[T]:
        queue: asyncio.Queue[T] = asyncio.Queue(maxsize=1)
        if current is not None:
            queue.put_nowait(current)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[T]) -> None:
        self._queues.discard(queue)

    def publish(self, value: T) -> None:
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()  # drop the stale value: only the newest matters
            queue.put_nowait(value)

    def __len__(self) -> int:
        return len(self._queues)


def tally(program: str | None, preview: str | None, studio: str) -> str:
    if program == studio:
        return PROGRAM
    if preview == studio:
        return PREVIEW
    return OFF


def wanted_quality(tally_state: str) -> str:
    return "full" if tally_state in (PROGRAM, PREVIEW) else "low"
