"""The program encoder's input: ticks of the program clock waiting to be encoded, bounded both ways.

At most ``pictures`` pictures wait: when a new one comes and that many are queued, the oldest
queued picture is dropped (its tick's audio and cues stay queued), so a slow encoder loses frames
and the clock never waits.  At most ``ticks`` ticks wait, pictures or not: beyond that the oldest
tick goes whole (its cues move to the next one); the encoder fills its time with silence.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import numpy as np

# [tick, picture (packed I420) or None (dropped), samples, cues or None]
Tick = list[Any]


class TickQueue:
    """Producer: the program clock (:meth:`put`, O(1), never waits); consumer: the encoder thread."""

    def __init__(self, pictures: int, ticks: int) -> None:
        self._pictures = pictures
        self._max_ticks = ticks
        # Pictures are dropped oldest first, so the entries without one are always a prefix.
        self._queue: collections.deque[Tick] = collections.deque()
        self._queued_pictures = 0
        self._cond = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        return len(self._queue)

    def put(
        self, tick: int, picture: np.ndarray, samples: np.ndarray, cues: list[dict[str, Any]] | None
    ) -> tuple[int, int]:
        """Queue one tick; returns (pictures dropped, ticks dropped whole) to make room."""
        pictures = ticks = 0
        with self._cond:
            queue = self._queue
            if self._queued_pictures >= self._pictures:
                queue[len(queue) - self._queued_pictures][1] = None  # the oldest picture: its audio stays
                self._queued_pictures -= 1
                pictures += 1
            if len(queue) >= self._max_ticks:
                oldest = queue.popleft()
                if oldest[3] and queue:  # a cue is never lost with its tick: the next one carries it
                    queue[0][3] = oldest[3] + (queue[0][3] or [])
                ticks += 1
                if oldest[1] is not None:
                    self._queued_pictures -= 1
                    pictures += 1
            queue.append([tick, picture, samples, cues])
            self._queued_pictures += 1
            self._cond.notify()
        return pictures, ticks

    def take(self) -> Tick | None:
        """The oldest tick, waiting for one; None once closed (what is queued then is left)."""
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            item = self._queue.popleft()
            if item[1] is not None:
                self._queued_pictures -= 1
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
