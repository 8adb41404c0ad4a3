"""Low-rate JPEG previews of every studio and of the program, for the control page.

One thread per show wakes a few times a second, scales each studio's latest
frame down and encodes it as JPEG. The program monitor decodes the real
encoded output (what the CDN gets), not the mixer's picture before encoding:
what the crew sees is what went out.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
from av.video.reformatter import ColorRange, VideoReformatter

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.feedbuffer import FeedBuffer
from mixer.outputs.sink import Sink

log = logging.getLogger(__name__)

PROGRAM = "program"


@dataclass(frozen=True)
class Snapshot:
    jpeg: bytes
    seq: int
    at: float


class _Jpeg:
    """Scale + JPEG encode with one scaler and one encoder per source."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.scaler = VideoReformatter()
        self.codec = av.CodecContext.create("mjpeg", "w")
        self.codec.width, self.codec.height = width, height
        self.codec.pix_fmt = "yuvj420p"
        self.codec.time_base = Fraction(1, 5)
        # A preview, not a picture to judge: bounded quantiser keeps JPEGs ~10-20 KB.
        self.codec.options = {"qmin": "3", "qmax": "12"}
        self.codec.thread_count = 1
        self.count = 0

    def encode(self, frame: av.VideoFrame) -> bytes:
        # Full-range output: FFmpeg's MJPEG encoder refuses limited-range frames.
        small = self.scaler.reformat(
            frame, width=self.width, height=self.height, format="yuvj420p", dst_color_range=ColorRange.JPEG
        )
        # The encoder wants strictly increasing timestamps, whatever the source's.
        self.count += 1
        small.pts, small.time_base = self.count, self.codec.time_base
        return b"".join(bytes(p) for p in self.codec.encode(small))


class ProgramMonitor(Sink):
    """Takes the encoded program and keeps it for the multiview thread to decode."""

    name = "monitor"

    def __init__(self) -> None:
        self._queue: collections.deque[EncodedPacket] = collections.deque(maxlen=120)
        self._lock = threading.Lock()
        self._need_key = True
        self.fmt: ProgramFormat | None = None

    def start(self, fmt: ProgramFormat) -> None:
        self.fmt = fmt  # its time_origin dates the packets (the monitor's delay)

    def put(self, packet: EncodedPacket) -> None:
        if packet.kind != "video":
            return
        with self._lock:
            if len(self._queue) == self._queue.maxlen:
                # Fell behind: start again from the next keyframe, which decodes alone.
                self._queue.clear()
                self._need_key = True
            if self._need_key and not packet.keyframe:
                return
            self._need_key = False
            self._queue.append(packet)

    def take(self) -> list[EncodedPacket]:
        with self._lock:
            out = list(self._queue)
            self._queue.clear()
            return out

    def close(self) -> None:
        with self._lock:
            self._queue.clear()


class Multiview:
    def __init__(
        self,
        feeds: Callable[[], dict[str, FeedBuffer]],
        fps: float = 5.0,
        width: int = 320,
        height: int = 180,
        cards: Callable[[], dict[str, av.VideoFrame]] | None = None,
    ) -> None:
        self._feeds = feeds
        self._cards = cards or dict  # audio-only studios: their card is their preview
        self.period = 1.0 / fps
        self.width, self.height = width, height
        self.monitor = ProgramMonitor()
        self._decoder = av.CodecContext.create("h264", "r")
        self._decoder.thread_count = 1
        self._jpegs: dict[str, _Jpeg] = {}
        self._seen: dict[str, object] = {}  # studio -> the frame's sequence number, or the card shown
        self._snapshots: dict[str, Snapshot] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="multiview", daemon=True)
        self.cpu_seconds = 0.0
        # Seconds from the program clock composing a frame to the monitor's JPEG of it (the
        # encoder's queue and latency plus this thread's wait); the page shows it.
        self.program_delay: float | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def snapshot(self, source: str) -> Snapshot | None:
        return self._snapshots.get(source)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            t0 = time.thread_time()
            try:
                self._refresh()
            except Exception:
                log.exception("multiview refresh failed")
            self.cpu_seconds += time.thread_time() - t0

    def _jpeg(self, source: str) -> _Jpeg:
        enc = self._jpegs.get(source)
        if enc is None:
            enc = self._jpegs[source] = _Jpeg(self.width, self.height)
        return enc

    def _publish(self, source: str, frame: av.VideoFrame) -> None:
        old = self._snapshots.get(source)
        data = self._jpeg(source).encode(frame)
        self._snapshots[source] = Snapshot(data, (old.seq + 1) if old else 1, time.time())

    def _refresh(self) -> None:
        feeds, cards = self._feeds(), self._cards()
        for studio_id, feed in feeds.items():
            frame, seq, _ = feed.latest_video()
            card = cards.get(studio_id)
            if frame is None and card is not None and self._seen.get(studio_id) is not card:
                self._seen[studio_id] = card
                self._publish(studio_id, card)
            elif frame is not None and self._seen.get(studio_id) != seq:
                self._seen[studio_id] = seq
                self._publish(studio_id, frame)
        for gone in set(self._snapshots) - set(feeds) - {PROGRAM}:
            # Offline studios have no picture: the page shows them as offline.
            del self._snapshots[gone]
            self._seen.pop(gone, None)
        last: av.VideoFrame | None = None
        last_pts = 0
        for packet in self.monitor.take():
            try:
                for frame in self._decoder.decode(packet.to_av()):
                    last, last_pts = frame, packet.pts
            except av.error.FFmpegError:
                log.debug("program monitor could not decode a packet")
        if last is not None:
            self._publish(PROGRAM, last)
            fmt = self.monitor.fmt
            if fmt is not None and fmt.time_origin is not None:
                self.program_delay = time.time() - (fmt.time_origin + last_pts / fmt.fps)
