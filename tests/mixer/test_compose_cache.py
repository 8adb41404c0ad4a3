"""The scaler's thread count (mixer.fitter.SCALER_THREADS) is a speed choice only."""

from __future__ import annotations

import av
import numpy as np
import pytest

import mixer.fitter as fitter
from mixer.fitter import FittedPicture
from mixer.planes import BLACK


def _detailed_frame(w: int, h: int) -> av.VideoFrame:
    rng = np.random.default_rng(7)
    planes = np.empty((h * 3 // 2, w), np.uint8)
    planes[:h] = rng.integers(16, 236, (h, w), dtype=np.uint8)
    planes[h:] = rng.integers(16, 241, (h // 2, w), dtype=np.uint8)
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


@pytest.mark.parametrize("mode", ["fit", "crop", "blur"])
@pytest.mark.parametrize(("w", "h"), [(640, 720), (384, 216), (1280, 720)])
def test_scaled_pictures_do_not_depend_on_the_thread_count(
    monkeypatch: pytest.MonkeyPatch, mode: str, w: int, h: int
) -> None:
    frame = _detailed_frame(1280, 720)
    results = []
    for threads in (1, 2):
        monkeypatch.setattr(fitter, "SCALER_THREADS", threads)
        results.append(FittedPicture(w, h, mode, BLACK).update(frame, 1).copy())
    assert np.array_equal(results[0], results[1])
