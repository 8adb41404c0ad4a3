"""The synthetic studio's test sound: a continuous stereo sine in Opus-sized frames."""

from __future__ import annotations

import fractions

import av
import numpy as np

AUDIO_RATE = 48_000
AUDIO_SAMPLES = 960  # 20 ms: the Opus frame size WebRTC peers expect


class Tone:
    """A continuous stereo sine at ``hz`` in 20 ms s16 frames (phase-continuous across frames)."""

    def __init__(self, hz: float, amplitude: float = 0.25) -> None:
        self.hz = hz
        self.amplitude = amplitude
        self._n = np.arange(AUDIO_SAMPLES, dtype=np.float64)

    def frame(self, index: int) -> av.AudioFrame:
        start = index * AUDIO_SAMPLES
        phase = 2 * np.pi * self.hz * (start + self._n) / AUDIO_RATE
        mono = (np.sin(phase) * (self.amplitude * 32767)).astype(np.int16)
        stereo = np.repeat(mono, 2).reshape(1, -1)  # packed s16: L R L R ...
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        return frame
