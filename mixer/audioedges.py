"""Click-free edges in a stream of int16 samples: where audio stops, starts, or skips.

A step in the waveform is a click: a 1 kHz tone at -12 dBFS (peak 8000) moves by at
most ~1050 a sample, so cutting it anywhere makes a jump of up to 8000 (to silence)
or 16000 (to another phase). These shape each edge over ``EDGE`` samples (2 ms at
48 kHz: short enough to be inaudible as a fade, long enough that no sample moves by
more than ~1/96 of the step). Arrays are (n, channels) int16.
"""

from __future__ import annotations

import numpy as np

EDGE = 96  # samples: 2 ms at 48 kHz


def _ramp(k: int) -> np.ndarray:
    """(k, 1) float32 rising strictly between 0 and 1 (neither end included)."""
    return np.linspace(0, 1, k + 2, dtype=np.float32)[1:-1, None]


def fade_in(samples: np.ndarray, edge: int = EDGE) -> np.ndarray:
    """``samples`` starting from silence (a new copy)."""
    k = min(edge, len(samples))
    out = samples.copy()
    out[:k] = np.rint(samples[:k] * _ramp(k)).astype(samples.dtype)
    return out


def fade_from(last: np.ndarray, samples: np.ndarray, edge: int = EDGE) -> np.ndarray:
    """``samples`` (silence, usually) starting from the value ``last`` (one frame, (channels,))
    that the stream stopped at, falling to them over ``edge`` samples (a new copy)."""
    k = min(edge, len(samples))
    out = samples.copy()
    w = _ramp(k)[::-1]
    out[:k] = np.rint(last[None, :].astype(np.float32) * w + samples[:k] * (1 - w)).astype(samples.dtype)
    return out


def drop_oldest(fifo: np.ndarray, drop: int, edge: int = EDGE) -> np.ndarray:
    """``fifo`` without its ``drop`` oldest samples, spliced: the first ``edge`` samples that
    remain are crossfaded from what would have played next (``fifo[:edge]``), so a stream
    whose last played sample came just before ``fifo[0]`` goes on without a step."""
    rest = fifo[drop:]
    k = min(edge, len(rest))
    if not k:
        return rest.copy()
    w = _ramp(k)
    out = rest.copy()
    out[:k] = np.rint(fifo[:k].astype(np.float32) * (1 - w) + rest[:k] * w).astype(fifo.dtype)
    return out
