"""Bitrate and frame rate of an output over the last few seconds, for status and /metrics."""

from __future__ import annotations

import time
from collections import deque


class RateMeter:
    """Counts bytes and video frames; one thread adds, any thread reads.

    ``add`` is O(1) and records a sample at most every half second, so rates
    come from a few seconds of history without a timer or a lock (a deque
    append and a ``list()`` copy are atomic under the GIL).
    """

    WINDOW = 5.0  # seconds the rates are averaged over
    STEP = 0.5  # seconds between samples

    def __init__(self) -> None:
        self.bytes = 0
        self.frames = 0
        self.started = time.monotonic()
        # (time, bytes, frames); the first sample is taken at the first add, so time
        # spent waiting (for a keyframe, a connection) does not dilute the rates.
        self._samples: deque[tuple[float, int, int]] = deque(maxlen=int(self.WINDOW / self.STEP) + 2)

    def add(self, nbytes: int, frames: int = 0) -> None:
        now = time.monotonic()
        samples = self._samples
        if not samples:
            samples.append((now, self.bytes, self.frames))
        self.bytes += nbytes
        self.frames += frames
        if now - samples[-1][0] >= self.STEP:
            samples.append((now, self.bytes, self.frames))

    def rates(self) -> tuple[float, float]:
        """(bits per second, video frames per second); zeros once nothing has come for a while."""
        samples = list(self._samples)
        if len(samples) < 2:
            return 0.0, 0.0
        t1, b1, f1 = samples[-1]
        if time.monotonic() - t1 > 2 * self.STEP + 1.0:
            return 0.0, 0.0
        t0, b0, f0 = samples[0]
        dt = t1 - t0
        if dt <= 0:
            return 0.0, 0.0
        return 8 * (b1 - b0) / dt, (f1 - f0) / dt

    def summary(self) -> dict[str, object]:
        bps, fps = self.rates()
        return {
            "bitrate_bps": round(bps),
            "fps": round(fps, 2),
            "bytes_total": self.bytes,
            "frames_total": self.frames,
        }

    def restart(self) -> None:
        """A new connection: uptime and rates start again (totals keep counting)."""
        self.started = time.monotonic()
        self._samples.clear()

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started
