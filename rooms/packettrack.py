"""A media track that hands aiortc already-encoded packets: no per-viewer encode.

aiortc's RTCRtpSender calls ``recv()``; when it gets an ``av.Packet`` instead
of a frame it only packetizes it (``H264Encoder.pack``: FU-A/STAP-A;
``OpusEncoder.pack``: one packet) and sends it.  The sender pulls only once
DTLS is up, so the first ``recv()`` marks the viewer as connected: packets
are queued from then on, and video waits for a keyframe (which it asks for).

Each track has a small bounded queue filled by the show's fan-out on the event
loop.  A viewer that falls behind (its sender task does not keep up) loses its
queued video and resumes at the next keyframe; audio drops the oldest packet.
Nobody else waits for it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Literal

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from mixer.encodedpacket import EncodedPacket


class PacketTrack(MediaStreamTrack):
    def __init__(
        self,
        kind: Literal["video", "audio"],
        max_packets: int,
        on_need_keyframe: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self._max = max_packets
        self._on_need_keyframe = on_need_keyframe
        self._queue: deque[EncodedPacket] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._need_key = kind == "video"
        self.started = False  # the sender has pulled: the connection is up
        self.packets_sent = 0
        self.bytes_sent = 0
        self.skipped = 0  # video before the first keyframe (or the next one after a resync)
        self.dropped = 0  # queued packets thrown away because the viewer fell behind
        self.resyncs = 0  # times this viewer fell behind and skipped to a keyframe
        self.last: EncodedPacket | None = None  # the packet recv() handed out last

    @property
    def backlog(self) -> int:
        return len(self._queue)

    @property
    def waiting(self) -> bool:
        """The sender waits in ``recv()``: everything it was handed has been sent."""
        return self._waiter is not None and not self._waiter.done()

    def push(self, packet: EncodedPacket) -> None:
        """Queue one packet (event loop, from the output's fan-out); never blocks."""
        if not self.started or self.readyState != "live":
            return
        queue = self._queue
        if self.kind == "video":
            if self._need_key:
                if not packet.keyframe:
                    self.skipped += 1
                    return
                self._need_key = False
            elif len(queue) >= self._max:
                # Behind by a whole queue: what is queued is stale, and what follows
                # needs it.  Skip to the next keyframe (and ask for one soon).
                self.dropped += len(queue)
                queue.clear()
                self.resyncs += 1
                if not packet.keyframe:
                    self.skipped += 1
                    self._need_key = True
                    self._ask_keyframe()
                    return
        elif len(queue) >= self._max:
            queue.popleft()
            self.dropped += 1
        queue.append(packet)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _ask_keyframe(self) -> None:
        if self._on_need_keyframe is not None:
            self._on_need_keyframe()

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if not self.started:
            self.started = True
            if self.kind == "video":
                self._ask_keyframe()
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        item = self._queue.popleft()
        self.last = item
        packet = av.Packet(item.data)
        packet.pts = item.pts
        packet.dts = item.dts
        packet.time_base = item.time_base
        packet.is_keyframe = item.keyframe
        self.packets_sent += 1
        self.bytes_sent += len(item.data)
        return packet

    def stop(self) -> None:
        super().stop()
        self._queue.clear()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)  # recv() sees readyState 'ended' and raises
