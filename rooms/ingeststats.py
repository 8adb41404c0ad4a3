"""What a studio's stream looks like on arrival: rates from aiortc's counters.

aiortc's ``getStats()`` has cumulative counters only (packets received/lost,
transport bytes, jitter in RTP clock units); rates need two samples, so the
session samples once a second and this keeps the last two.
"""

from __future__ import annotations

import time
from typing import Any

CLOCK_RATE = {"video": 90_000, "audio": 48_000}


class IngestStats:
    def __init__(self) -> None:
        self._last: tuple[float, int, int, int, int] | None = None  # time, bytes, frames, received, lost
        self.fps: float | None = None
        self.bitrate_kbps: float | None = None
        self.packet_loss_pct: float | None = None
        self.jitter_ms: float | None = None
        self.codec: str | None = None

    def update(self, report: Any, video_frames: int, codec: str | None, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        received = lost = rx_bytes = 0
        jitter: float | None = None
        for stats in report.values():
            kind = getattr(stats, "type", "")
            if kind == "inbound-rtp":
                received += stats.packetsReceived
                lost += max(stats.packetsLost, 0)
                if stats.kind == "video":
                    jitter = stats.jitter / CLOCK_RATE["video"] * 1000
            elif kind == "transport":
                rx_bytes = max(rx_bytes, stats.bytesReceived)  # bundled: one transport, listed per receiver
        self.codec = codec
        self.jitter_ms = round(jitter, 1) if jitter is not None else None
        if self._last is not None:
            t0, bytes0, frames0, received0, lost0 = self._last
            dt = now - t0
            if dt > 0:
                self.fps = round((video_frames - frames0) / dt, 1)
                self.bitrate_kbps = round((rx_bytes - bytes0) * 8 / dt / 1000, 1)
                expected = (received - received0) + (lost - lost0)
                self.packet_loss_pct = round(100 * (lost - lost0) / expected, 2) if expected > 0 else 0.0
        self._last = (now, rx_bytes, video_frames, received, lost)

    def snapshot(self) -> dict[str, object]:
        return {
            "fps": self.fps,
            "bitrate_kbps": self.bitrate_kbps,
            "packet_loss_pct": self.packet_loss_pct,
            "jitter_ms": self.jitter_ms,
            "codec": self.codec,
        }
