"""Transitions between two program pictures, on packed I420 arrays with integer math.

- ``fade`` (mix): out = (a * (256 - k) + b * k) >> 8, in preallocated uint16 buffers.
- ``wipe``: a vertical edge moves left to right; left of it is the new picture.
- ``slide``: the new picture pushes the old one out to the left.

A transition lasts a whole number of program frames; its last frame is the new
picture exactly, so the end of a transition is indistinguishable from a cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixer.planes import packed_planes
from mixer.scene import Bus


@dataclass
class Transition:
    kind: str
    source: Bus
    target: Bus
    frames: int  # total program frames, >= 1
    done: int = 0  # frames shown so far

    @property
    def progress(self) -> float:
        return self.done / self.frames

    @property
    def finished(self) -> bool:
        return self.done >= self.frames


class Blender:
    """Draws one frame of a transition into ``out``; buffers sized once per canvas."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        shape = (height * 3 // 2, width)
        self._acc = np.empty(shape, dtype=np.uint16)
        self._tmp = np.empty(shape, dtype=np.uint16)

    def draw(self, kind: str, a: np.ndarray, b: np.ndarray, progress: float, out: np.ndarray) -> None:
        if progress >= 1.0:
            np.copyto(out, b)
        elif progress <= 0.0:
            np.copyto(out, a)
        elif kind == "fade":
            self.fade(a, b, int(progress * 256 + 0.5), out)
        elif kind == "wipe":
            self.wipe(a, b, int(self.width * progress) & ~1, out)
        elif kind == "slide":
            self.slide(a, b, int(self.width * progress) & ~1, out)
        else:
            np.copyto(out, b)

    def fade(self, a: np.ndarray, b: np.ndarray, k: int, out: np.ndarray) -> None:
        """k in 0..256: share of ``b``. Rounded, so k=128 of 0 and 255 gives 128."""
        np.multiply(a, 256 - k, out=self._acc, dtype=np.uint16)
        np.multiply(b, k, out=self._tmp, dtype=np.uint16)
        np.add(self._acc, self._tmp, out=self._acc)
        np.add(self._acc, 128, out=self._acc)
        np.right_shift(self._acc, 8, out=self._acc)
        np.copyto(out, self._acc, casting="unsafe")

    def wipe(self, a: np.ndarray, b: np.ndarray, x: int, out: np.ndarray) -> None:
        """Columns left of ``x`` (luma, even) from ``b``, the rest from ``a``."""
        for pa, pb, po in zip(packed_planes(a), packed_planes(b), packed_planes(out), strict=True):
            edge = x if po.shape[1] == self.width else x // 2
            po[:, :edge] = pb[:, :edge]
            po[:, edge:] = pa[:, edge:]

    def slide(self, a: np.ndarray, b: np.ndarray, x: int, out: np.ndarray) -> None:
        """``b`` enters from the right by ``x`` luma columns, pushing ``a`` left."""
        for pa, pb, po in zip(packed_planes(a), packed_planes(b), packed_planes(out), strict=True):
            w = po.shape[1]
            edge = x if w == self.width else x // 2
            po[:, : w - edge] = pa[:, edge:]
            po[:, w - edge :] = pb[:, :edge]
