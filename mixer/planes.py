"""I420 plane views: PyAV's packed arrays and av.VideoFrame planes, without copies.

PyAV's ``to_ndarray()`` for yuv420p packs Y (h rows of w) then U and V (each
h/2 x w/2, folded into h/4 rows of w). Every operation here works on views of
the three planes, so chroma is handled at half resolution with integer math.
"""

from __future__ import annotations

import av
import numpy as np

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]
Yuv = tuple[int, int, int]

BLACK: Yuv = (16, 128, 128)


def packed(width: int, height: int) -> np.ndarray:
    """A new packed I420 array (height must be a multiple of 4)."""
    return np.empty((height * 3 // 2, width), dtype=np.uint8)


def packed_planes(arr: np.ndarray) -> Planes:
    w = arr.shape[1]
    h = arr.shape[0] * 2 // 3
    u = arr[h : h + h // 4].reshape(h // 2, w // 2)
    v = arr[h + h // 4 : h + h // 2].reshape(h // 2, w // 2)
    return arr[:h], u, v


def frame_planes(frame: av.VideoFrame) -> Planes:
    """Views of a yuv420p frame's planes (rows may be padded: sliced to width)."""
    out = []
    for plane in frame.planes:
        buf = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(plane.height, plane.line_size)
        out.append(buf[:, : plane.width])
    return out[0], out[1], out[2]


def region(planes: Planes, x: int, y: int, w: int, h: int) -> Planes:
    """A sub-rectangle (x, y, w, h even) of all three planes."""
    py, pu, pv = planes
    cx, cy, cw, ch = x // 2, y // 2, w // 2, h // 2
    return py[y : y + h, x : x + w], pu[cy : cy + ch, cx : cx + cw], pv[cy : cy + ch, cx : cx + cw]


def fill(planes: Planes, colour: Yuv) -> None:
    for plane, value in zip(planes, colour, strict=True):
        plane.fill(value)


def blit(dst: Planes, src: Planes, x: int = 0, y: int = 0) -> None:
    """Copy ``src`` into ``dst`` with its top-left corner at (x, y) (even)."""
    h, w = src[0].shape
    for d, s in zip(region(dst, x, y, w, h), src, strict=True):
        d[...] = s


def rgb_to_yuv(rgb: tuple[int, int, int]) -> Yuv:
    """BT.601 limited range, what swscale uses by default for yuv420p."""
    r, g, b = rgb
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return round(y), round(u), round(v)


def parse_colour(text: str) -> tuple[int, int, int]:
    """'#rrggbb' -> (r, g, b); raises ValueError."""
    if len(text) != 7 or text[0] != "#":
        raise ValueError(f"{text!r} is not a #rrggbb colour")
    value = int(text[1:], 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255
