"""One MPEG-TS segment file, written so that consecutive segment files read as one continuous TS.

Every new mpegts mux starts each PID's 4-bit continuity counter at 0, and FFmpeg's HLS demuxer
then flags the last frame of every segment as corrupt.  :class:`ContinuityCounters` renumbers the
counters as the bytes are written (one numpy pass per ~64 KB), exactly as a single long-running
mux would have numbered them; :class:`SegmentFile` is the file object a PyAV ``mpegts`` mux writes
one segment into, sharing one :class:`ContinuityCounters` with the segments before it.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np

TS_PACKET = 188
_WRITE_BATCH = 348 * TS_PACKET  # ~64 KB


class ContinuityCounters:
    """Renumber TS continuity counters so consecutive segment files continue each other."""

    def __init__(self) -> None:
        self._last: dict[int, int] = {}

    def fix(self, chunk: bytearray) -> None:
        packets = np.frombuffer(chunk, dtype=np.uint8).reshape(-1, TS_PACKET)
        pids = ((packets[:, 1].astype(np.int64) & 0x1F) << 8) | packets[:, 2]
        has_payload = ((packets[:, 3] >> 4) & 1).astype(np.int64)  # CC counts payload packets only
        for pid in np.unique(pids).tolist():
            rows = pids == pid
            counters = (self._last.get(pid, -1) + np.cumsum(has_payload[rows])) & 0x0F
            packets[rows, 3] = (packets[rows, 3] & 0xF0) | counters.astype(np.uint8)
            self._last[pid] = int(counters[-1])


class SegmentFile:
    """The file object PyAV's mpegts mux writes one segment into."""

    def __init__(self, path: Path, counters: ContinuityCounters) -> None:
        self.path = path
        self.size = 0
        self._counters = counters
        self._file: BinaryIO = path.open("wb")
        self._pending = bytearray()  # AVIO chunks are 32 KB, not whole TS packets

    def write(self, data: bytes) -> int:
        # The mux flushes after every packet (a few hundred bytes for audio): batch
        # ~64 KB so the counter pass and the write syscall run a few times a second.
        self._pending += data
        if len(self._pending) >= _WRITE_BATCH:
            self._flush(len(self._pending) - len(self._pending) % TS_PACKET)
        return len(data)

    def _flush(self, size: int) -> None:
        if size:
            chunk = self._pending[:size]
            del self._pending[:size]
            self._counters.fix(chunk)
            self._file.write(chunk)
            self.size += size

    def close(self) -> None:
        try:
            self._flush(len(self._pending) - len(self._pending) % TS_PACKET)
            if self._pending:  # never happens with a sane muxer; keep the bytes anyway
                self._file.write(self._pending)
                self.size += len(self._pending)
                self._pending.clear()
        finally:
            self._file.close()
