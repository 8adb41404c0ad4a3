"""What a studio's stream looks like on arrival: rates, loss, repair and freezes.

The counters are cumulative (aiortc's transport bytes, our receive path's per-SSRC
RTP counts and repair counters, see rooms/compat/aiortcreceive.py); rates need two samples, so
the session samples once a second and this keeps the previous one. Freezes are
measured on the decoded frames themselves (``on_decoded_frame``), so they are what
the mixer saw.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

FREEZE_S = 0.2  # a gap between decoded frames longer than this is a freeze (WebRTC's freezeCount uses
# max(3 x mean frame interval, mean + 150 ms); at 30 fps both are ~0.1-0.2 s)


class RtpCounts(Protocol):
    kind: str

    def rtp_counts(self) -> tuple[int, int, float | None]: ...

    def counters(self) -> dict[str, int]: ...


class IngestStats:
    def __init__(self) -> None:
        self._last: dict[str, float] | None = None  # the previous sample's cumulative counters
        self.fps: float | None = None  # whole video frames received per second
        self.decoded_fps: float | None = None  # decoded pictures handed to the mixer per second
        self.bitrate_kbps: float | None = None
        self.packet_loss_pct: float | None = None  # media RTP packets (audio and video) lost, last interval
        self.video_packet_loss_pct: float | None = None
        self.jitter_ms: float | None = None
        self.codec: str | None = None
        self.packets_expected = 0  # cumulative, media SSRCs (RTX repairs excluded)
        self.packets_lost = 0
        self.counters: dict[str, int] = {}
        # freezes, from decoded frames
        self.freezes = 0
        self.freeze_ms = 0.0
        self.longest_freeze_ms = 0.0
        self._last_decoded: float | None = None

    def on_decoded_frame(self, now: float | None = None) -> None:
        """Call for each decoded video frame (monotonic ``now``)."""
        now = time.monotonic() if now is None else now
        if self._last_decoded is not None:
            gap = now - self._last_decoded
            if gap > FREEZE_S:
                self.freezes += 1
                self.freeze_ms += gap * 1000
                self.longest_freeze_ms = max(self.longest_freeze_ms, gap * 1000)
        self._last_decoded = now

    def update(
        self,
        report: Any,
        decoded_frames: int,
        codec: str | None,
        paths: Sequence[RtpCounts] = (),
        now: float | None = None,
    ) -> None:
        """Take one sample: ``report`` from ``RTCPeerConnection.getStats()`` (transport bytes),
        ``paths`` the receive paths of the session's receivers (RTP counts and counters)."""
        now = time.monotonic() if now is None else now
        rx_bytes = 0
        for stats in report.values():
            if getattr(stats, "type", "") == "transport":
                rx_bytes = max(rx_bytes, stats.bytesReceived)  # bundled: one transport, listed per receiver
        cur: dict[str, float] = {"time": now, "bytes": rx_bytes, "decoded": decoded_frames}
        counters: dict[str, int] = {}
        jitter: float | None = None
        for path in paths:
            expected, received, path_jitter = path.rtp_counts()
            cur["expected"] = cur.get("expected", 0) + expected
            cur["received"] = cur.get("received", 0) + received
            if path.kind == "video":
                cur["video_expected"], cur["video_received"] = expected, received
                jitter = path_jitter
            for key, value in path.counters().items():
                counters[key] = counters.get(key, 0) + value
        self.codec = codec
        self.counters = counters
        self.jitter_ms = round(jitter, 1) if jitter is not None else None
        self.packets_expected = int(cur.get("expected", 0))
        self.packets_lost = max(int(cur.get("expected", 0) - cur.get("received", 0)), 0)
        cur["frames"] = counters.get("frames_received", decoded_frames)
        last, self._last = self._last, cur
        if last is None or now <= last["time"]:
            return
        dt = now - last["time"]
        self.fps = round((cur["frames"] - last["frames"]) / dt, 1)
        self.decoded_fps = round((decoded_frames - last["decoded"]) / dt, 1)
        self.bitrate_kbps = round((rx_bytes - last["bytes"]) * 8 / dt / 1000, 1)
        self.packet_loss_pct = _loss_pct(cur, last, "")
        self.video_packet_loss_pct = _loss_pct(cur, last, "video_")

    def snapshot(self) -> dict[str, object]:
        return {
            "fps": self.fps,
            "decoded_fps": self.decoded_fps,
            "bitrate_kbps": self.bitrate_kbps,
            "packet_loss_pct": self.packet_loss_pct,
            "video_packet_loss_pct": self.video_packet_loss_pct,
            "packets_expected": self.packets_expected,
            "packets_lost": self.packets_lost,
            "jitter_ms": self.jitter_ms,
            "codec": self.codec,
            "freezes": self.freezes,
            "freeze_ms": round(self.freeze_ms),
            "longest_freeze_ms": round(self.longest_freeze_ms),
            **self.counters,
        }


def _loss_pct(cur: dict[str, float], last: dict[str, float], prefix: str) -> float | None:
    """Loss over the interval, RFC 3550 A.3: (expected - received) / expected, never below 0."""
    if f"{prefix}expected" not in cur:
        return None
    expected = cur[f"{prefix}expected"] - last.get(f"{prefix}expected", 0)
    received = cur[f"{prefix}received"] - last.get(f"{prefix}received", 0)
    if expected <= 0:
        return 0.0
    return round(max(100 * (expected - received) / expected, 0.0), 2)
