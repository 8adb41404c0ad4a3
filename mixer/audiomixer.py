"""Program audio: one tick's worth of samples from the program studio.

Runs in the program clock's thread. Each studio's decoded frames are resampled
to s16 stereo at the program rate into a small FIFO; the program takes exactly
``samples_per_tick`` per tick, so audio timestamps follow the program clock
and never the studios'.
"""

from __future__ import annotations

import av
import numpy as np

from rooms.feedbuffer import FeedBuffer


class _StudioAudio:
    # Jitter buffer: start playing a studio only after this much is queued,
    # and never keep more than MAX (older samples are dropped: live, not late).
    PREFILL_S = 0.06
    MAX_S = 0.30

    def __init__(self, sample_rate: int) -> None:
        self.resampler = av.AudioResampler(format="s16", layout="stereo", rate=sample_rate)
        self.fifo = np.zeros((0, 2), dtype=np.int16)
        self.playing = False
        self.prefill = int(self.PREFILL_S * sample_rate)
        self.max = int(self.MAX_S * sample_rate)
        self.underruns = 0

    def feed(self, frames: list[av.AudioFrame]) -> None:
        chunks = [self.fifo]
        for frame in frames:
            for out in self.resampler.resample(frame):
                # packed s16 stereo: shape (1, samples*2) -> (samples, 2)
                chunks.append(out.to_ndarray().astype(np.int16, copy=False).reshape(-1, 2))
        if len(chunks) > 1:
            self.fifo = np.concatenate(chunks)
        if len(self.fifo) > self.max:
            self.fifo = self.fifo[-self.max :]

    def take(self, n: int) -> np.ndarray | None:
        if not self.playing:
            if len(self.fifo) < self.prefill:
                return None
            self.playing = True
        if len(self.fifo) < n:
            self.underruns += 1
            self.playing = False
            out = np.zeros((n, 2), dtype=np.int16)
            out[: len(self.fifo)] = self.fifo
            self.fifo = self.fifo[:0]
            return out
        out, self.fifo = self.fifo[:n], self.fifo[n:]
        return out


class AudioMixer:
    def __init__(self, sample_rate: int, samples_per_tick: int) -> None:
        self.sample_rate = sample_rate
        self.samples_per_tick = samples_per_tick
        self._studios: dict[str, _StudioAudio] = {}
        self._silence = np.zeros((samples_per_tick, 2), dtype=np.int16)

    def mix(self, feeds: dict[str, FeedBuffer], program: str | None) -> np.ndarray:
        """Samples (n, 2) int16 for one tick: the program studio's audio or silence."""
        for studio_id, feed in feeds.items():
            state = self._studios.get(studio_id)
            if state is None:
                state = self._studios[studio_id] = _StudioAudio(self.sample_rate)
            state.feed(feed.take_audio())
        for gone in set(self._studios) - set(feeds):
            del self._studios[gone]
        if program is None or program not in self._studios:
            return self._silence
        samples = self._studios[program].take(self.samples_per_tick)
        return self._silence if samples is None else samples

    def underruns(self, studio_id: str) -> int:
        state = self._studios.get(studio_id)
        return state.underruns if state else 0


def samples_to_frame(samples: np.ndarray, sample_rate: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="stereo")
    frame.sample_rate = sample_rate
    return frame
