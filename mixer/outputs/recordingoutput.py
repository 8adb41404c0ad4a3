"""Recording of the program to fragmented MP4 files, rotated by time.

``frag_keyframe+empty_moov+default_base_moof``: the ``moov`` (codec setup) is
at the start and every GOP is a self-contained ``moof``+``mdat`` fragment, so
a file is playable while it grows and after the server is killed mid-show
(losing at most the fragment being built, about one GOP).  ``flush_packets``
hands each finished fragment to the kernel at once.

A new file starts on the first keyframe after ``rotate_seconds``; each file's
timestamps start at 0.  Files go to ``directory/{prefix}-{UTC time}Z.mp4``
(``wuhan-0510-20260510-093000.250Z.mp4``), so their names sort in time order.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.packetqueue import PacketQueue
from mixer.outputs.ratemeter import RateMeter
from mixer.outputs.remux import Remux
from mixer.outputs.sink import Sink
from mixer.outputs.worker import join_worker, offer

log = logging.getLogger(__name__)

MP4_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}


@dataclass(slots=True)
class RecordedFile:
    path: Path
    started_at: float  # wall clock
    seconds: float = 0.0
    bytes: int = 0
    closed: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.path.name,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 3),
            "bytes": self.bytes,
            "closed": self.closed,
        }


class RecordingOutput(Sink):
    name = "recording"

    def __init__(self, directory: Path, prefix: str, rotate_seconds: float = 600.0, queue_size: int = 2048) -> None:
        if rotate_seconds <= 0:
            raise ValueError("rotate_seconds must be positive")
        self.directory = Path(directory)
        self.prefix = prefix
        self.rotate_seconds = rotate_seconds
        self._queue = PacketQueue(queue_size, wake_at=16)
        self._thread: threading.Thread | None = None
        self._fmt: ProgramFormat | None = None
        self._remux: Remux | None = None
        self._closed = False
        self.files: list[RecordedFile] = []  # the recent ones
        self.files_written = 0
        self.meter = RateMeter()
        self.errors = 0
        self.last_error: str | None = None
        self.skipped_packets = 0
        self.started_at = time.time()

    # --- encoder thread -----------------------------------------------------

    def start(self, fmt: ProgramFormat) -> None:
        if self._thread is not None:
            return
        self._fmt = fmt
        self._thread = threading.Thread(target=self._run, name=f"record:{self.prefix}", daemon=True)
        self._thread.start()

    def put(self, packet: EncodedPacket) -> None:
        if self._thread is None or self._closed:
            return
        offer(self._queue, packet, 0.0, "recording")

    def close(self) -> None:
        """Write what is queued, finish the file; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.close()
        join_worker(self._thread, 30, "recording")

    # --- worker thread ----------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._queue.take_all(timeout=0.5)
            for packet, _ in batch:
                try:
                    self._handle(packet)
                except Exception as exc:
                    self._fail(exc)
            if not batch and self._queue.closed:
                break
        self._finish()

    def _handle(self, packet: EncodedPacket) -> None:
        remux = self._remux
        if packet.kind == "video" and packet.keyframe:
            seconds = float(packet.pts * packet.time_base)
            if remux is not None and seconds - remux.start_seconds >= self.rotate_seconds - 1e-3:
                self._finish()
                remux = None
            if remux is None:
                remux = self._open(packet)
        if remux is None:
            self.skipped_packets += 1  # waiting for a keyframe
            return
        written = remux.write(packet)
        self.meter.add(written, int(packet.kind == "video"))
        current = self.files[-1]
        current.bytes = remux.bytes_written
        current.seconds = remux.last_seconds - remux.start_seconds + (1 / self._fmt.fps if self._fmt else 0)

    def _open(self, keyframe: EncodedPacket) -> Remux:
        assert self._fmt is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        ms = int(time.time() * 1000)
        # Names sort in time order: UTC to the millisecond.
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}"
        path = self.directory / f"{self.prefix}-{stamp}Z.mp4"
        while path.exists():  # a clock step back; never overwrite a recording
            path = path.with_name(path.stem + "+.mp4")
        remux = Remux(self._fmt, str(path), "mp4", MP4_OPTIONS)
        remux.open(keyframe)
        self._remux = remux
        origin = self._fmt.time_origin  # the program clock's wall time of the opening keyframe, if known
        started = origin + float(keyframe.pts * keyframe.time_base) if origin is not None else time.time()
        self.files.append(RecordedFile(path, started))
        self.files_written += 1
        del self.files[:-50]  # status lists the recent ones; the directory has them all
        log.info("recording: writing %s", path)
        return remux

    def _finish(self) -> None:
        remux, self._remux = self._remux, None
        if remux is None:
            return
        remux.close()
        if self.files:
            self.files[-1].closed = True

    def _fail(self, exc: Exception) -> None:
        """A write error (disk full, directory gone): close this file, start a new one at the next keyframe."""
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        # A lasting fault (disk full) comes back at every keyframe: log the first and then every 60th.
        if self.errors % 60 == 1:
            log.error(
                "recording %s: %s (%d errors)", self.directory, self.last_error, self.errors, exc_info=self.errors == 1
            )
        self._finish()

    # --- any thread ------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        recording = self._remux is not None and not self._closed
        return {
            "name": self.name,
            "kind": "recording",
            "state": "recording" if recording else ("stopped" if self._closed else "starting"),
            "up": recording,
            "directory": str(self.directory),
            "rotate_seconds": self.rotate_seconds,
            "uptime_s": round(time.time() - self.started_at, 1),
            "errors": self.errors,
            "last_error": self.last_error,
            "files": [f.to_json() for f in self.files[-10:]],
            "files_written": self.files_written,
            "queue_depth": len(self._queue),
            "dropped_packets": self._queue.dropped,
            "skipped_packets": self.skipped_packets,
            **self.meter.summary(),
        }
