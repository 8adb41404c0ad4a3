"""A second, independent WHIP publisher for tests: aiortc sending a solid colour and a tone."""

from __future__ import annotations

import asyncio
import fractions
import queue
import threading

import aiohttp
import av
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack, VideoStreamTrack

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


class ColourTrack(VideoStreamTrack):
    def __init__(self, colour: str, width: int = 640, height: int = 360) -> None:
        super().__init__()
        rgb = np.full((height, width, 3), COLOURS[colour], dtype=np.uint8)
        self._frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = self._frame.reformat()  # a fresh frame object with the same picture
        frame.pts, frame.time_base = pts, time_base
        return frame


class ToneTrack(AudioStreamTrack):
    def __init__(self, hz: float) -> None:
        super().__init__()
        self._hz = hz
        self._n = 0

    async def recv(self) -> av.AudioFrame:
        await super().recv()  # paces at 20 ms
        t = (np.arange(960) + self._n) / 48000
        self._n += 960
        tone = (np.sin(2 * np.pi * self._hz * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48000, self._n - 960
        frame.time_base = fractions.Fraction(1, 48000)
        return frame


class TrackPublisher:
    """A WHIP publisher (aiortc) of any tracks."""

    def __init__(self, base_url: str, show: str, studio: str, token: str, *tracks: MediaStreamTrack) -> None:
        self.url = f"{base_url}/whip/{show}/{studio}"
        self.token = token
        self.pc = RTCPeerConnection()
        for track in tracks:
            self.pc.addTrack(track)
        self.location: str | None = None
        self._base = base_url

    async def start(self, timeout: float = 10) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with aiohttp.ClientSession() as http:
            headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"}
            async with http.post(self.url, data=self.pc.localDescription.sdp, headers=headers) as res:
                assert res.status == 201, await res.text()
                self.location = res.headers["Location"]
                answer = await res.text()
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        async with asyncio.timeout(timeout):
            while self.pc.connectionState != "connected":
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.location:
            async with aiohttp.ClientSession() as http:
                await http.delete(self._base + self.location, headers={"Authorization": f"Bearer {self.token}"})
        await self.pc.close()


class AiortcPublisher(TrackPublisher):
    """A studio of one solid colour and a tone."""

    def __init__(self, base_url: str, show: str, studio: str, token: str, colour: str, hz: float = 660) -> None:
        super().__init__(base_url, show, studio, token, ColourTrack(colour), ToneTrack(hz))


# -- a moving picture whose every decoded frame can be checked ------------------------
# Luma only (chroma flat grey): a smooth pattern that scrolls PATTERN_SPEED px a frame,
# under a band of 16 black/white blocks that spell the frame number. A decoder fed an
# inter frame whose reference is missing shows the wrong content somewhere: checking a
# decoded frame against the picture its number names finds it.
PATTERN_BAND = 24  # rows of the number band
PATTERN_SPEED = 6


def pattern_luma(n: int, width: int, height: int) -> np.ndarray:
    """The luma plane (uint8, height x width) of frame ``n``."""
    x = np.arange(width, dtype=np.float32)
    y = np.arange(height, dtype=np.float32)[:, None]
    wave = np.sin(2 * np.pi * (x + PATTERN_SPEED * n) / 160) * np.cos(2 * np.pi * (y + 2 * n) / 120)
    luma = (128 + 80 * wave).astype(np.uint8)
    block = width // 16
    for bit in range(16):
        luma[:PATTERN_BAND, bit * block : (bit + 1) * block] = 235 if (n >> bit) & 1 else 16
    return luma


def pattern_number(luma: np.ndarray) -> int:
    """The frame number a decoded luma plane spells."""
    block = luma.shape[1] // 16
    band = luma[4 : PATTERN_BAND - 4]
    return sum(1 << bit for bit in range(16) if band[:, bit * block + 4 : (bit + 1) * block - 4].mean() > 128)


def pattern_error(luma: np.ndarray) -> float:
    """Worst mean absolute difference of a 32x32 tile (sampled every other pixel) from the
    picture the frame's number names."""
    n = pattern_number(luma)
    height, width = luma.shape
    expected = pattern_luma(n, width, height)[PATTERN_BAND::2, ::2].astype(np.int16)
    diff = np.abs(luma[PATTERN_BAND::2, ::2].astype(np.int16) - expected)
    rows, cols = diff.shape[0] // 16, diff.shape[1] // 16
    tiles = diff[: rows * 16, : cols * 16].reshape(rows, 16, cols, 16).mean(axis=(1, 3))
    return float(tiles.max())


class PatternTrack(VideoStreamTrack):
    """The checkable moving picture at 30 fps."""

    def __init__(self, width: int = 640, height: int = 360) -> None:
        super().__init__()
        self.width, self.height = width, height
        self._n = 0
        self._chroma = np.full((height // 2, width), 128, dtype=np.uint8)

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        yuv = np.concatenate([pattern_luma(self._n, self.width, self.height), self._chroma])
        self._n = (self._n + 1) & 0xFFFF
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts, frame.time_base = pts, time_base
        return frame


class PatternChecker:
    """Checks decoded pattern pictures against the pictures their numbers name, in a thread.

    ``push`` (from the event loop) only queues a reference; the queue is bounded and a
    picture that does not fit is counted in ``unchecked``, never waited for.
    """

    BROKEN = 8.0  # pattern_error of a clean decode is 0.3-2; a lost reference gives 15+

    def __init__(self, every: int = 1) -> None:
        self.every = every
        self.pushed = self.checked = self.broken = self.unchecked = 0
        self.worst = 0.0
        self._queue: queue.Queue[av.VideoFrame | None] = queue.Queue(maxsize=30)
        self._thread = threading.Thread(target=self._run, name="pattern-check", daemon=True)
        self._thread.start()

    def push(self, frame: av.VideoFrame) -> None:
        self.pushed += 1
        if self.every and self.pushed % self.every == 0:
            try:
                self._queue.put_nowait(frame)
            except queue.Full:
                self.unchecked += 1

    def _run(self) -> None:
        while (frame := self._queue.get()) is not None:
            plane = frame.planes[0]
            luma = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: frame.height, : frame.width]
            error = pattern_error(luma)
            self.checked += 1
            self.worst = max(self.worst, error)
            self.broken += int(error > self.BROKEN)

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(10)
