"""A second, independent WHIP publisher for tests: aiortc sending a solid colour and a tone."""

from __future__ import annotations

import asyncio
import fractions

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
