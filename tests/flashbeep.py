"""A lip-sync test studio: aiortc publishing a picture that flashes white and a beep, at the
same instant every second; and the measurement of both in a decoded program.

Both tracks are paced from one shared epoch, like a camera and a microphone on
one clock: video frame k is captured (and sent) at ``epoch + k/fps``; audio
samples are sent 20 ms at a time once the last of them has been "captured".
So a flash at second s and the beep starting at sample s * 48000 really are
the same instant at the source, and any offset seen in the program was added
on the way.

Also here: :class:`Gate`, which stops a track from producing frames without
hanging up (a studio whose camera and network froze).
"""

from __future__ import annotations

import asyncio
import fractions
import time
from dataclasses import dataclass

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

from tests.mediacheck import without_cue_points
from tests.whipclient import TrackPublisher

RATE = 48000


class FlashTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, epoch: float, fps: int = 30, flash_frames: int = 3, width: int = 640, height: int = 360) -> None:
        super().__init__()
        self.epoch, self.fps, self.flash_frames = epoch, fps, flash_frames
        self._k = 0
        planes = np.empty((height * 3 // 2, width), np.uint8)
        planes[height:] = 128
        planes[:height] = 235
        self._white = av.VideoFrame.from_ndarray(planes.copy(), format="yuv420p")
        planes[:height] = 40
        self._dark = av.VideoFrame.from_ndarray(planes, format="yuv420p")

    async def recv(self) -> av.VideoFrame:
        k = self._k
        self._k += 1
        wait = self.epoch + k / self.fps - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        source = self._white if k % self.fps < self.flash_frames else self._dark
        frame = source.reformat()  # a fresh frame object with the same picture
        frame.pts, frame.time_base = k * (90000 // self.fps), fractions.Fraction(1, 90000)
        return frame


class BeepTrack(MediaStreamTrack):
    kind = "audio"
    SAMPLES = 960  # 20 ms

    def __init__(self, epoch: float, hz: float = 1000, beep_s: float = 0.1, amplitude: int = 8000) -> None:
        super().__init__()
        self.epoch, self.hz, self.beep_s, self.amplitude = epoch, hz, beep_s, amplitude
        self._n = 0

    async def recv(self) -> av.AudioFrame:
        n = self._n
        self._n += self.SAMPLES
        wait = self.epoch + (n + self.SAMPLES) / RATE - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        i = np.arange(n, n + self.SAMPLES)
        t = i / RATE
        on = (i % RATE) < self.beep_s * RATE
        samples = np.where(on, np.sin(2 * np.pi * self.hz * t) * self.amplitude, 0).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(samples, 2).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = RATE, n, fractions.Fraction(1, RATE)
        return frame


class Gate(MediaStreamTrack):
    """Passes another track's frames until :meth:`close_gate`: then recv() waits forever."""

    def __init__(self, inner: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = inner.kind
        self.inner = inner
        self._open = asyncio.Event()
        self._open.set()

    def close_gate(self) -> None:
        self._open.clear()

    async def recv(self) -> av.frame.Frame:
        await self._open.wait()
        return await self.inner.recv()


def flash_beep_publisher(base_url: str, show: str, studio: str, token: str) -> TrackPublisher:
    epoch = time.time() + 0.5  # both tracks count from here
    return TrackPublisher(base_url, show, studio, token, FlashTrack(epoch), BeepTrack(epoch))


@dataclass
class AvOffsets:
    flashes: list[float]  # program time of each flash's first frame
    beeps: list[float]  # program time of each beep's first sample
    offsets: list[float]  # beep minus flash, seconds, for each flash with a beep within 0.5 s


def measure_flash_beep(data: bytes, fmt: str = "flv") -> AvOffsets:
    """Flash onsets (luma jumps) and beep onsets (after >= 0.3 s of quiet) in a decoded program."""
    import io

    container = av.open(io.BytesIO(without_cue_points(data) if fmt == "flv" else data), format=fmt)
    flashes: list[float] = []
    beeps: list[float] = []
    bright_before = False
    quiet_since: float | None = None
    v = container.streams.video[0]
    a = container.streams.audio[0]
    for packet in container.demux(v, a):
        for frame in packet.decode():
            assert frame.pts is not None and frame.time_base is not None
            t0 = float(frame.pts * frame.time_base)
            if isinstance(frame, av.VideoFrame):
                y = frame.to_ndarray(format="yuv420p")[: frame.height]
                h, w = y.shape
                bright = float(y[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].mean()) > 180  # white 235, dark 40
                if bright and not bright_before:
                    flashes.append(t0)
                bright_before = bright
            else:
                samples = frame.to_ndarray()
                mono = np.abs(samples[0] if samples.ndim == 2 else samples)
                if samples.dtype.kind == "f":
                    mono = mono * 32768
                loud = np.flatnonzero(mono > 1500)
                start = 0
                if quiet_since is None and not len(loud):
                    quiet_since = t0
                for idx in loud:
                    t = t0 + idx / frame.sample_rate
                    if quiet_since is not None and t - quiet_since >= 0.3:
                        beeps.append(t)
                    quiet_since = None
                    start = idx
                # quiet again from the last loud sample if the rest of the frame is silent
                if len(loud):
                    tail = mono[start + 1 :]
                    if len(tail) > 0.02 * frame.sample_rate and not (tail > 1500).any():
                        quiet_since = t0 + (start + 1) / frame.sample_rate
    container.close()
    offsets = []
    for f in flashes:
        near = [b - f for b in beeps if abs(b - f) < 0.5]
        if near:
            offsets.append(min(near, key=abs))
    return AvOffsets(flashes, beeps, offsets)
