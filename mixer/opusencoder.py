"""The program's audio as Opus for WebRTC viewers: the second audio encode, run only while they listen."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from mixer.encodedpacket import EncodedPacket


class OpusEncoder:
    """Program audio as 20 ms Opus packets (48 kHz stereo), for WebRTC viewers.

    Ticks carry ``sample_rate / fps`` samples (1600 at 30 fps); Opus takes 960
    a frame, so a small FIFO regroups them.  Timestamps continue the program's
    audio clock from where this encoder started.
    """

    FRAME = 960

    def __init__(self, sample_rate: int, bit_rate: int, start_pts: int) -> None:
        if sample_rate != 48000:
            raise ValueError("Opus for WebRTC needs 48 kHz program audio")
        ctx = av.CodecContext.create("libopus", "w")
        assert isinstance(ctx, av.AudioCodecContext)
        ctx.sample_rate = sample_rate
        ctx.layout = "stereo"
        ctx.format = "s16"
        ctx.bit_rate = min(bit_rate, 128_000)
        ctx.time_base = Fraction(1, sample_rate)
        ctx.options = {"application": "audio", "frame_duration": "20"}
        ctx.open()
        self._ctx = ctx
        self._fifo = np.zeros((0, 2), dtype=np.int16)
        self._pts = start_pts

    def encode(self, samples: np.ndarray) -> list[EncodedPacket]:
        fifo = np.concatenate((self._fifo, samples)) if len(self._fifo) else samples
        out: list[EncodedPacket] = []
        at = 0
        while len(fifo) - at >= self.FRAME:
            chunk = np.ascontiguousarray(fifo[at : at + self.FRAME]).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
            frame.sample_rate = self._ctx.sample_rate
            frame.pts = self._pts
            frame.time_base = self._ctx.time_base
            self._pts += self.FRAME
            at += self.FRAME
            out += [EncodedPacket.from_av("audio", p) for p in self._ctx.encode(frame)]
        self._fifo = fifo[at:].copy() if at < len(fifo) else fifo[:0]
        return out
