"""Program audio: every studio's FIFO, gains, the switch crossfades, the limiter, the meters.

Runs in the program clock's thread. Each studio's decoded frames are resampled
to s16 stereo at the program rate into a small FIFO; the program takes exactly
``samples_per_tick`` per tick from EVERY studio, on air or not, so a studio
cut to air plays with the same (short) buffer delay it always has: its lip
sync does not depend on how long it waited off air.

Audio follows video: a studio's on-air position moves between 0 and 1 on a
linear ramp (30 ms at a cut, the whole transition for a fade/wipe/slide) and
is heard at sin(position * pi/2), an equal-power crossfade between the
outgoing and incoming studios. Gain changes ramp over one tick; the sum goes
through a limiter so the program never clips.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Set

import av
import numpy as np

from mixer.audioedges import EDGE, drop_oldest
from mixer.dynamics import Limiter, Meter
from mixer.feedbuffer import FeedBuffer


class _StudioAudio:
    # Jitter buffer: start playing a studio only after this much is queued,
    # and never keep more than MAX (older samples are dropped: live, not late).
    PREFILL_S = 0.06
    MAX_S = 0.30
    EDGE = EDGE  # 2 ms fade where the stream stops (underrun), starts or skips: no clicks
    # Clock drift: when the smoothed depth leaves the band, play 1% faster or
    # slower (linear resampling, 17 cents: inaudible on speech) until it is back.
    DRIFT_BAND_S = 0.025
    DRIFT_RATE = 0.01
    DEPTH_SMOOTHING = 0.05  # per tick: ~0.7 s time constant at 30 fps

    def __init__(self, sample_rate: int, samples_per_tick: int) -> None:
        self.sample_rate = sample_rate
        self.resampler = av.AudioResampler(format="s16", layout="stereo", rate=sample_rate)
        self.fifo = np.zeros((0, 2), dtype=np.int16)
        self.playing = False
        # Enough for a whole tick plus one 20 ms packet of jitter, whatever the frame rate.
        self.prefill = max(int(self.PREFILL_S * sample_rate), samples_per_tick + sample_rate // 50)
        self.max = int(self.MAX_S * sample_rate)
        self._target = self.prefill + sample_rate // 100  # steady state sits a little above the prefill
        self._band = int(self.DRIFT_BAND_S * sample_rate)
        self.depth = float(self.prefill)  # smoothed samples queued before a take
        self.underruns = 0
        self.drift_corrections = 0
        self._fade_in = np.linspace(0, 1, self.EDGE + 2, dtype=np.float32)[1:-1, None]

    def feed(self, frames: list[av.AudioFrame]) -> None:
        chunks = [self.fifo]
        for frame in frames:
            for out in self.resampler.resample(frame):
                # packed s16 stereo: shape (1, samples*2) -> (samples, 2)
                chunks.append(out.to_ndarray().astype(np.int16, copy=False).reshape(-1, 2))
        if len(chunks) > 1:
            self.fifo = np.concatenate(chunks)
        if len(self.fifo) > self.max:
            # Too much queued (the clock stalled, or a burst arrived): the oldest go. Spliced, not
            # cut: a cut jumps to another phase of the waveform, a click of up to twice the peak.
            drop = len(self.fifo) - self.max
            self.fifo = drop_oldest(self.fifo, drop) if self.playing else self.fifo[drop:]

    @property
    def latency(self) -> float:
        """Seconds a sample waits here (smoothed): what the studio's video must be delayed by."""
        return self.depth / self.sample_rate

    def take(self, n: int) -> np.ndarray | None:
        """n samples (n, 2) int16, or None while (re)filling the jitter buffer."""
        if not self.playing:
            if len(self.fifo) < self.prefill:
                return None
            self.playing = True
            out = self._pop(n)
            return (out * self._fade_in_for(out)).astype(np.int16) if out is not None else None
        self.depth += self.DEPTH_SMOOTHING * (len(self.fifo) - self.depth)
        # Hold back EDGE samples: if the stream stops, they are what fades out.
        if len(self.fifo) < n + self.EDGE:
            return self._underrun(n)
        return self._pop(n)

    def _pop(self, n: int) -> np.ndarray | None:
        m = n
        if self.depth > self._target + self._band:
            m = n + int(n * self.DRIFT_RATE)
        elif self.depth < self._target - self._band:
            m = n - int(n * self.DRIFT_RATE)
        if len(self.fifo) < m:
            m = n
        if len(self.fifo) < n:
            return None
        out, self.fifo = self.fifo[:m], self.fifo[m:]
        if m == n:
            return out
        self.drift_corrections += 1
        x = np.linspace(0, m - 1, n)
        src = np.arange(m)
        stretched = np.stack([np.interp(x, src, out[:, c]) for c in range(2)], axis=1)
        return np.rint(stretched).astype(np.int16)

    def _fade_in_for(self, out: np.ndarray) -> np.ndarray:
        ramp = np.ones((len(out), 1), dtype=np.float32)
        k = min(len(out), self.EDGE)
        ramp[:k] = self._fade_in[:k]
        return ramp

    def _underrun(self, n: int) -> np.ndarray:
        """What is left (at most n), faded out, then silence; playing resumes after a new prefill."""
        self.underruns += 1
        self.playing = False
        self.depth = float(self.prefill)
        out = np.zeros((n, 2), dtype=np.int16)
        m = min(n, len(self.fifo))
        if m:
            k = min(m, self.EDGE)
            tail = self.fifo[:m].astype(np.float32)
            tail[m - k :] *= self._fade_in[:k][::-1]
            out[:m] = np.rint(tail).astype(np.int16)
        self.fifo = self.fifo[:0]
        return out


class _Channel:
    """One studio in the mix: its buffer, on-air position, gain and meter."""

    def __init__(self, sample_rate: int, samples_per_tick: int) -> None:
        self.audio = _StudioAudio(sample_rate, samples_per_tick)
        self.meter = Meter(sample_rate, samples_per_tick)
        self.position = 0.0  # 0 off air .. 1 on air; heard at sin(position * pi/2)
        self.target = 0.0
        self.rate = 1.0  # position change per sample
        self.gain = 1.0  # linear, after mute
        self.target_gain = 1.0

    def envelope(self, steps: np.ndarray) -> np.ndarray | None:
        """Per-sample factor for this tick (None: silent all tick). Advances the state."""
        n = len(steps)
        p0, g0, g1 = self.position, self.gain, self.target_gain
        moving = p0 != self.target
        self.gain = g1
        if not moving and (p0 == 0.0 or g0 == g1 == 0.0):
            return None
        curve: np.ndarray | float
        if moving:
            direction = 1.0 if self.target > p0 else -1.0
            p = p0 + direction * self.rate * steps
            np.clip(p, min(p0, self.target), max(p0, self.target), out=p)
            self.position = float(p[-1])
            curve = np.sin(p * (math.pi / 2))
        else:
            curve = math.sin(p0 * math.pi / 2)
        gains = g0 + (g1 - g0) * (steps / n) if g0 != g1 else g0
        return np.broadcast_to(np.asarray(curve * gains, dtype=np.float32), (n,))


class AudioMixer:
    XFADE_S = 0.03  # audio crossfade at a cut
    PANIC_FADE_S = 0.005  # panic: silent within the next frame

    def __init__(self, sample_rate: int, samples_per_tick: int) -> None:
        self.sample_rate = sample_rate
        self.samples_per_tick = samples_per_tick
        self._channels: dict[str, _Channel] = {}
        self._on_air: frozenset[str] = frozenset()
        self._steps = np.arange(1, samples_per_tick + 1, dtype=np.float64)
        self._acc = np.zeros((samples_per_tick, 2), dtype=np.float32)
        self.limiter = Limiter(sample_rate, samples_per_tick)
        self.program_meter = Meter(sample_rate, samples_per_tick)
        self._gains_db: Mapping[str, float] = {}
        self._muted: Set[str] = frozenset()
        self._readings: dict[str, object] = {}
        self._heard: dict[str, float] = {}  # studio -> monotonic time audio last arrived (kept across sessions)
        # For the hosts' return feeds (mixer/mixminus.py): while set, each tick keeps the sum
        # before the limiter (``bus``) and each studio's share of it (``parts``).
        self.keep_parts = False
        self.bus = np.zeros((samples_per_tick, 2), dtype=np.float32)
        self.parts: dict[str, np.ndarray] = {}
        # Solo (pre-fader listen, mixer/solo.py): studio -> callback given each tick's input
        # before gain, mute and the on-air crossfade. Replaced whole, never changed in place.
        self._taps: Mapping[str, Callable[[np.ndarray], None]] = {}
        self._silence = np.zeros((samples_per_tick, 2), dtype=np.int16)

    @property
    def cut_samples(self) -> int:
        return int(self.XFADE_S * self.sample_rate)

    @property
    def panic_samples(self) -> int:
        return int(self.PANIC_FADE_S * self.sample_rate)

    def set_on_air(self, studios: Iterable[str], ramp_samples: int) -> None:
        """At a switch: these studios move to air (the others off) over ``ramp_samples``."""
        self._on_air = frozenset(studios)
        rate = 1.0 / max(1, ramp_samples)
        for studio_id, ch in self._channels.items():
            ch.target = 1.0 if studio_id in self._on_air else 0.0
            ch.rate = rate

    def set_taps(self, taps: Mapping[str, Callable[[np.ndarray], None]]) -> None:
        """Any thread: from the next tick, ``taps[studio]`` gets that studio's (n, 2) int16 input
        block of every tick (silence while its buffer refills or it is not connected), before
        gain, mute and the on-air crossfade.
        A tap must not block: it runs in the program clock's thread."""
        self._taps = dict(taps)

    def set_levels(self, gains_db: Mapping[str, float], muted: Set[str]) -> None:
        self._gains_db, self._muted = gains_db, muted

    def mix(self, feeds: Mapping[str, FeedBuffer], now: float | None = None) -> np.ndarray:
        """Samples (n, 2) int16 for one tick; ``now`` (monotonic) stamps the studios heard."""
        now = time.monotonic() if now is None else now
        n = self.samples_per_tick
        acc = self._acc
        acc.fill(0.0)
        readings: dict[str, object] = {}
        keep = self.keep_parts
        parts: dict[str, np.ndarray] = {}
        taps = self._taps
        for studio_id, feed in feeds.items():
            ch = self._channels.get(studio_id)
            if ch is None:
                ch = self._channels[studio_id] = _Channel(self.sample_rate, n)
                ch.target = 1.0 if studio_id in self._on_air else 0.0
                ch.rate = 1.0 / self.cut_samples
            frames = feed.take_audio()
            if frames:
                self._heard[studio_id] = now
            ch.audio.feed(frames)
            block = ch.audio.take(n)
            ch.meter.update(block)
            tap = taps.get(studio_id)
            if tap is not None:
                tap(self._silence if block is None else block)
            gain_db = self._gains_db.get(studio_id, 0.0)
            ch.target_gain = 0.0 if studio_id in self._muted else 10 ** (gain_db / 20)
            env = ch.envelope(self._steps)
            if block is not None and env is not None:
                share = block * env[:, None]
                acc += share
                if keep:
                    parts[studio_id] = share
            readings[studio_id] = {
                **ch.meter.reading(),
                "on_air": round(ch.position, 3),
                "buffer_ms": round(1000 * ch.audio.latency, 1),
                "underruns": ch.audio.underruns,
            }
        for gone in set(self._channels) - set(feeds):
            del self._channels[gone]
        if keep:
            np.copyto(self.bus, acc)
        self.parts = parts
        for studio_id, tap in taps.items():
            if studio_id not in feeds:  # soloed but not connected: silence, the stream stays steady
                tap(self._silence)
        out = self.limiter.process(acc)
        self.program_meter.update(out)
        self._readings = {
            "program": {**self.program_meter.reading(), "limiter_db": self.limiter.reduction_db},
            "studios": readings,
        }
        return out

    def heard(self, studio_id: str) -> float:
        """Monotonic time the studio's audio last arrived (0.0: never)."""
        return self._heard.get(studio_id, 0.0)

    def forget(self, studio_id: str) -> None:
        """The studio has gone for good (the program no longer keeps it)."""
        self._heard.pop(studio_id, None)

    def latency(self, studio_id: str) -> float:
        ch = self._channels.get(studio_id)
        return ch.audio.latency if ch else _StudioAudio.PREFILL_S

    def underruns(self, studio_id: str) -> int:
        ch = self._channels.get(studio_id)
        return ch.audio.underruns if ch else 0

    def meters(self) -> dict[str, object]:
        """The last tick's readings (replaced whole each tick, safe to read from any thread)."""
        return self._readings


StudioAudio = _StudioAudio  # the jitter buffer, also for the talkback voices (mixer/mixminus.py)


def samples_to_frame(samples: np.ndarray, sample_rate: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="stereo")
    frame.sample_rate = sample_rate
    return frame
