"""Test clients for talk and listen: a host's return feed, a WHEP listener, an operator's talkback.

They are real aiortc peers: what they receive is decoded, and the tests look at
the sound (which tones, how loud) and the pictures.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

from rooms.compat import shorten_audio_jitter
from tests.peerclient import PeerClient

RATE = 48_000


def tone_db(samples: np.ndarray, hz: float, rate: int = RATE) -> float:
    """Level of the sine near ``hz`` in mono int16-scaled ``samples``, in dB relative to full scale."""
    if len(samples) < rate // 10:
        return -200.0
    x = samples.astype(np.float64) * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(x)) / (np.sum(np.hanning(len(samples))) / 2)
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    # +-3%: the mixer's jitter buffers play up to 1% fast or slow while they settle (clock drift)
    width = max(15.0, 0.03 * hz)
    band = (freqs > hz - width) & (freqs < hz + width)
    peak = float(spectrum[band].max()) if band.any() else 0.0
    return 20 * np.log10(max(peak, 1e-9) / 32767)


class Listener(PeerClient):
    """An aiortc peer that POSTs a recvonly offer and decodes what it gets (audio samples, pictures)."""

    def __init__(
        self, url: str, token: str | None = None, video: bool = True, audio_prefetch: int | None = None
    ) -> None:
        """``audio_prefetch``: packets aiortc's receive buffer holds (None: its own 4; 1 is near a browser's
        adaptive buffer on loopback, for delay measurements)."""
        super().__init__()
        self.url = url
        self.audio_prefetch = audio_prefetch
        self.token = token
        self.want_video = video
        self.location: str | None = None
        self.status = 0
        self.error = ""
        self.chunks: list[tuple[float, np.ndarray]] = []  # (arrival monotonic, mono samples)
        self.sizes: set[tuple[int, int]] = set()
        self.video_frames = 0

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self.audio_prefetch is not None:
            for transceiver in self.pc.getTransceivers():
                if transceiver.receiver.track is track:
                    shorten_audio_jitter(transceiver.receiver, self.audio_prefetch)
        super()._on_track(track)

    def on_frame(self, frame: Any) -> None:
        if isinstance(frame, av.VideoFrame):
            self.video_frames += 1
            self.sizes.add((frame.width, frame.height))
        elif isinstance(frame, av.AudioFrame):
            pcm = frame.to_ndarray().reshape(-1)
            if frame.format.name == "s16" and len(frame.layout.channels) == 2:
                pcm = pcm.reshape(-1, 2).mean(axis=1)
            self.chunks.append((time.monotonic(), pcm.astype(np.float32)))

    async def start(self, timeout: float = 15, expect: int = 201) -> None:
        if self.want_video:
            self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.status, body, headers = await self.post_offer(self.url, auth)
        if self.status != 201:
            self.error = body
            assert self.status == expect, (self.status, body)
            await self.pc.close()
            return
        self.location = headers["Location"]
        await self.answered(body, timeout)

    def samples(self, since: float = 0.0) -> np.ndarray:
        parts = [c for t, c in self.chunks if t >= since]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    async def stop(self, base: str) -> None:
        if self.location:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            async with aiohttp.ClientSession() as http, http.delete(base + self.location, headers=headers):
                pass
        await self.close_peer()


class Talker(PeerClient):
    """An operator's talkback: an aiortc peer sending ``track`` to POST /api/shows/{show}/talkback."""

    def __init__(self, base: str, show: str, auth: dict[str, str], track: MediaStreamTrack) -> None:
        super().__init__()
        self.base = base
        self.url = f"{base}/api/shows/{show}/talkback"
        self.auth = auth
        self.pc.addTransceiver(track, direction="sendonly")
        self.location: str | None = None

    async def start(self, timeout: float = 15) -> None:
        status, body, headers = await self.post_offer(self.url, self.auth)
        assert status == 201, (status, body)
        self.location = headers["Location"]
        await self.answered(body, timeout)

    async def key(self, on: bool, targets: Any = "all") -> tuple[int, Any]:
        assert self.location
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.base + self.location, json={"on": on, "targets": targets}, headers=self.auth) as res,
        ):
            return res.status, await res.json(content_type=None)

    async def stop(self) -> None:
        if self.location:
            async with aiohttp.ClientSession() as http, http.delete(self.base + self.location, headers=self.auth):
                pass
        await self.pc.close()
