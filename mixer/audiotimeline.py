"""The program audio's timeline: contiguous sample counts from tick 0, holes filled with silence.

Audio is never dropped with a picture; ticks with no audio at all (the clock skipped them, or the
encoder's backlog overflowed) are filled with silence, entered from where the sound stopped and
left with a fade-in (a step there is a click on air: tests/mixer/test_audio_e2e.py saw one under
load).  A hole longer than ``MAX_SILENCE_FILL`` (a suspended machine) is a jump, not silence.
"""

from __future__ import annotations

import logging

import numpy as np

from mixer.audioedges import fade_from, fade_in

log = logging.getLogger(__name__)


class AudioTimeline:
    """Which (tick, samples) to encode for each tick; encoder thread only.

    ``samples_per_tick``, ``channels``, ``sample_rate`` (Hz) and ``fps`` describe the program;
    samples are (samples_per_tick, channels) int16.
    """

    MAX_SILENCE_FILL = 10.0  # seconds; a longer hole (a suspended machine) is a jump, not silence

    def __init__(self, samples_per_tick: int, channels: int, sample_rate: int, fps: int) -> None:
        self._samples_per_tick = samples_per_tick
        self._sample_rate = sample_rate
        self._fps = fps
        self._next_tick: int | None = None  # the tick whose audio comes next on the timeline
        self._silence = np.zeros((samples_per_tick, channels), np.int16)
        self._last_sample: np.ndarray | None = None  # the last audio frame encoded: a hole fades from it

    def ticks(self, tick: int, samples: np.ndarray) -> tuple[list[tuple[int, np.ndarray]], int | None]:
        """The (tick, samples) to encode for ``tick``: itself, after silence for the ticks missing
        before it; empty for a tick from the past. With them, how many ticks of silence were
        filled, or None if the timeline jumped (a hole too long to fill). Advances the timeline."""
        spt = self._samples_per_tick
        ticks: list[tuple[int, np.ndarray]] = [(tick, samples)]
        expected = self._next_tick
        filled: int | None = 0
        if expected is not None:
            if tick < expected:  # a tick from the past: never make audio go back
                return [], 0
            missing = tick - expected
            if missing * spt > self.MAX_SILENCE_FILL * self._sample_rate:
                filled = None
                log.warning("program encoder: %.1f s without ticks; the timeline jumps", missing / self._fps)
                ticks = [(tick, fade_in(samples))]
            elif missing:
                filled = missing
                hole = [(t, self._silence) for t in range(expected, tick)]
                if self._last_sample is not None:
                    hole[0] = (expected, fade_from(self._last_sample, self._silence))
                ticks = [*hole, (tick, fade_in(samples))]
        self._next_tick = tick + 1
        self._last_sample = ticks[-1][1][-1].copy()
        return ticks, filled
