"""Level meters and the program limiter: vectorised numpy, once per tick, no per-sample Python.

Levels are dBFS relative to int16 full scale (32768): a full-scale sine reads
0 dBFS peak and -3 dBFS RMS.
"""

from __future__ import annotations

import math

import numpy as np

FULL_SCALE = 32768.0
FLOOR_DB = -90.0  # what silence reads (JSON has no -inf)


def to_db(linear: float) -> float:
    return max(FLOOR_DB, 20 * math.log10(linear / FULL_SCALE)) if linear > 0 else FLOOR_DB


class Meter:
    """Peak with a falling hold (like a PPM) and RMS averaged over ~300 ms."""

    PEAK_FALL_DB_PER_S = 24.0
    RMS_WINDOW_S = 0.3

    def __init__(self, sample_rate: int, samples_per_tick: int) -> None:
        tick = samples_per_tick / sample_rate
        self._fall = self.PEAK_FALL_DB_PER_S * tick
        self._alpha = 1 - math.exp(-tick / self.RMS_WINDOW_S)
        self.peak_db = FLOOR_DB
        self._mean_square = 0.0

    def update(self, block: np.ndarray | None) -> None:
        if block is None or not block.size:
            peak, mean_square = 0.0, 0.0
        else:
            as_float = block.astype(np.float32, copy=False)
            peak = float(np.abs(as_float).max())
            mean_square = float(np.mean(np.square(as_float, dtype=np.float32)))
        self.peak_db = max(to_db(peak), self.peak_db - self._fall)
        self._mean_square += self._alpha * (mean_square - self._mean_square)

    @property
    def rms_db(self) -> float:
        return to_db(math.sqrt(self._mean_square))

    def reading(self) -> dict[str, float]:
        return {"peak_dbfs": round(self.peak_db, 1), "rms_dbfs": round(self.rms_db, 1)}


class Limiter:
    """Keeps the program sum below int16 full scale without clicks.

    A block gain follows the tick's peak (fast attack, ramped over 2 ms; slow
    release), and a soft clipper above the knee catches what the ramp lets
    through, so the output never exceeds the ceiling (-0.2 dBFS).
    """

    KNEE = 0.80 * 32767  # linear below this
    CEILING = 0.977 * 32767  # -0.2 dBFS: the output never exceeds it
    ATTACK_S = 0.002
    RELEASE_DB_PER_S = 10.0

    def __init__(self, sample_rate: int, samples_per_tick: int) -> None:
        n = samples_per_tick
        self.gain = 1.0
        self._attack = max(1, min(n, int(self.ATTACK_S * sample_rate)))
        self._release = 10 ** (self.RELEASE_DB_PER_S * n / sample_rate / 20)
        self._ramp = np.ones(n, dtype=np.float32)
        self._steps = (np.arange(1, self._attack + 1, dtype=np.float32) / self._attack).astype(np.float32)
        self.reduction_db = 0.0

    def process(self, mix: np.ndarray) -> np.ndarray:
        """float32 (n, 2) sum of studios -> int16 (n, 2). ``mix`` is modified in place."""
        peak = float(np.abs(mix).max()) if mix.size else 0.0
        needed = 1.0 if peak <= self.KNEE else self.KNEE / peak
        new = needed if needed < self.gain else min(needed, self.gain * self._release)
        if new != self.gain:
            ramp = self._ramp
            ramp[: self._attack] = self.gain + (new - self.gain) * self._steps
            ramp[self._attack :] = new
            mix *= ramp[: len(mix), None]
        elif new != 1.0:
            mix *= new
        self.gain = new
        self.reduction_db = round(-20 * math.log10(new), 1) if new < 1.0 else 0.0
        soft_clip(mix, self.KNEE, self.CEILING)
        return np.rint(mix).astype(np.int16)


def soft_clip(x: np.ndarray, knee: float, ceiling: float) -> None:
    """In place: linear up to ``knee``, then a tanh curve that tends to ``ceiling``.

    The slope is 1 at the knee (no kink) and the output never exceeds the ceiling.
    """
    over = np.abs(x) > knee
    if not over.any():
        return
    span = ceiling - knee
    v = x[over]
    x[over] = np.sign(v) * (knee + span * np.tanh((np.abs(v) - knee) / span))
