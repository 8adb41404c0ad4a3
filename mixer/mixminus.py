"""The hosts' return sound: one mix-minus per studio with a return feed, plus talkback.

Runs in the program clock's thread, right after the program mix
(:meth:`mixer.audiomixer.AudioMixer.mix`), from the same decoded samples: a
studio's return is the program sum before the limiter minus that studio's own
share of it, so a host never hears their own microphone back, and hears the
others as soon as the program does, not after the program encode and an
output's buffering (the low-delay path: ``docs/BENCHMARKS.md``, "Talk and listen").

Talkback: each talking operator's decoded microphone (a :class:`Talk`) has its
own jitter buffer here. While a talk is open, the studios it targets hear it
on top of their return, with the program part ducked by :data:`DUCK_DB`
(ramped over :data:`DUCK_RAMP_S`). Talkback is never added to the program
sum, so it cannot reach the program, the recording or any output.

Each return then goes through its own limiter to int16 and, as one dict per
tick, to ``on_mix`` (the Opus encoder thread's queue, mixer/returnaudio.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from mixer.audiomixer import AudioMixer, StudioAudio
from mixer.dynamics import Limiter
from mixer.feedbuffer import FeedBuffer

DUCK_DB = -15.0  # the program under a talkback voice (broadcast IFB practice: 12-20 dB)
DUCK_RAMP_S = 0.05


@dataclass(frozen=True)
class Talk:
    """One operator's talkback: their decoded microphone, who hears it, and whether it is open.

    ``targets`` None: every studio. Replaced whole (never changed in place) by the control plane.
    """

    feed: FeedBuffer
    name: str
    targets: frozenset[str] | None = None
    on: bool = False

    def reaches(self, studio_id: str) -> bool:
        return self.on and (self.targets is None or studio_id in self.targets)


class MixMinus:
    """Per-tick return mixes; ``set_returns``/``set_talks`` are called from the event loop (reference swaps)."""

    def __init__(self, sample_rate: int, samples_per_tick: int) -> None:
        self.sample_rate = sample_rate
        self.samples_per_tick = samples_per_tick
        self._returns: frozenset[str] = frozenset()
        self._talks: Mapping[str, Talk] = {}
        self.on_mix: Callable[[dict[str, np.ndarray]], None] | None = None
        # Clock thread only:
        self._voices: dict[str, StudioAudio] = {}  # talk id -> its jitter buffer
        self._duck: dict[str, float] = {}  # studio -> current program gain in its return
        self._limiters: dict[str, Limiter] = {}
        self._duck_gain = 10 ** (DUCK_DB / 20)
        self._duck_step = (1 - self._duck_gain) * samples_per_tick / (DUCK_RAMP_S * sample_rate)
        self._ramp = np.linspace(0, 1, samples_per_tick, endpoint=False, dtype=np.float32)[:, None]
        self.ticks = 0

    # -- event loop ----------------------------------------------------------------
    def set_returns(self, studios: frozenset[str]) -> None:
        self._returns = studios

    def set_talks(self, talks: Mapping[str, Talk]) -> None:
        self._talks = dict(talks)

    @property
    def active(self) -> bool:
        return bool(self._returns)

    # -- clock thread --------------------------------------------------------------
    def tick(self, mixer: AudioMixer) -> None:
        """After the program mix of this tick: every return's samples to ``on_mix``."""
        returns, talks = self._returns, self._talks
        voices = self._voice_blocks(talks)
        if not returns:
            self._duck.clear()
            self._limiters.clear()
            return
        n = self.samples_per_tick
        out: dict[str, np.ndarray] = {}
        for studio_id in returns:
            mix = mixer.bus.copy() if mixer.keep_parts else np.zeros((n, 2), np.float32)
            own = mixer.parts.get(studio_id)
            if own is not None:
                mix -= own
            talking = [voices[tid] for tid, talk in talks.items() if talk.reaches(studio_id) and tid in voices]
            self._apply_duck(studio_id, bool(talking), mix)
            for block in talking:
                mix += block
            limiter = self._limiters.get(studio_id)
            if limiter is None:
                limiter = self._limiters[studio_id] = Limiter(self.sample_rate, n)
            out[studio_id] = limiter.process(mix)
        for gone in set(self._limiters) - returns:
            del self._limiters[gone]
            self._duck.pop(gone, None)
        self.ticks += 1
        on_mix = self.on_mix  # read once: the event loop may clear it meanwhile
        if on_mix is not None:
            on_mix(out)

    def _voice_blocks(self, talks: Mapping[str, Talk]) -> dict[str, np.ndarray]:
        """One tick of each talk's voice (every talk is drained every tick, open or not: no backlog)."""
        n = self.samples_per_tick
        blocks: dict[str, np.ndarray] = {}
        for talk_id, talk in talks.items():
            voice = self._voices.get(talk_id)
            if voice is None:
                voice = self._voices[talk_id] = StudioAudio(self.sample_rate, n)
            voice.feed(talk.feed.take_audio())
            block = voice.take(n)
            if block is not None and talk.on:
                blocks[talk_id] = block.astype(np.float32)
        for gone in set(self._voices) - set(talks):
            del self._voices[gone]
        return blocks

    def _apply_duck(self, studio_id: str, talking: bool, mix: np.ndarray) -> None:
        g0 = self._duck.get(studio_id, 1.0)
        target = self._duck_gain if talking else 1.0
        if g0 == target:
            if g0 != 1.0:
                mix *= g0
            return
        if abs(target - g0) <= self._duck_step:
            g1 = target
        else:
            g1 = g0 + self._duck_step if target > g0 else g0 - self._duck_step
        self._duck[studio_id] = g1
        mix *= g0 + (g1 - g0) * self._ramp
