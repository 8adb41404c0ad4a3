"""Where each studio of a layout goes on the canvas, for landscape and portrait.

- ``single``: the main studio fills the canvas.
- ``pip``: the main studio fills the canvas; the second sits in a corner, 30%
  of the canvas in each dimension (same shape as the canvas), with a margin.
- ``side-by-side``: two halves, left/right on a landscape canvas and top/bottom
  on a portrait one (two people side by side on a phone screen would each get
  a thin sliver).

Every box has even coordinates and sizes, so chroma boxes are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

PIP_SCALE = 0.30
PIP_MARGIN = 0.04  # of the shorter canvas side


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int


def _even(value: float) -> int:
    return max(2, int(value) & ~1)


def boxes(layout: str, width: int, height: int, corner: str = "bottom-right") -> tuple[Box, ...]:
    """One box per studio of the layout, main first."""
    full = Box(0, 0, width, height)
    if layout == "single":
        return (full,)
    if layout == "pip":
        w, h = _even(width * PIP_SCALE), _even(height * PIP_SCALE)
        m = _even(min(width, height) * PIP_MARGIN)
        x = m if corner.endswith("left") else width - w - m
        y = m if corner.startswith("top") else height - h - m
        return full, Box(x, y, w, h)
    if layout == "side-by-side":
        if width >= height:
            half = _even(width / 2)
            return Box(0, 0, half, height), Box(half, 0, width - half, height)
        half = _even(height / 2)
        return Box(0, 0, width, half), Box(0, half, width, height - half)
    raise ValueError(f"unknown layout {layout!r}")
