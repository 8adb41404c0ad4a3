"""Sprites: graphics converted once to I420 planes + alpha, blended per frame with integer math.

Everything expensive (colour conversion, chroma subsampling, finding which parts are
opaque) happens once in :func:`sprite_from_rgba`. Per frame :func:`blend_sprite` only
copies the opaque core of a sprite and blends its edges, in numpy slices:

    out = (dst * (256 - a) + src * a + 128) >> 8      a in 0..256

which stays inside uint16 (255*256 + 128 < 65536), gives ``dst`` exactly at a=0 and
``src`` exactly at a=256.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), in the plane's own pixels

# A core smaller than this share of the bounding box is not worth its own copy.
_MIN_CORE_SHARE = 0.25


@dataclass(frozen=True)
class Regions:
    """Where a plane's alpha is 256 (``core``: copied) and where it is partial (``edges``: blended)."""

    bbox: Rect | None  # everything with alpha > 0
    core: Rect | None
    edges: tuple[Rect, ...]


@dataclass(frozen=True, eq=False)
class Sprite:
    """An RGBA graphic as I420 planes; width and height are even, so chroma is exactly half."""

    width: int
    height: int
    y: np.ndarray  # uint8 (h, w)
    u: np.ndarray  # uint8 (h/2, w/2)
    v: np.ndarray
    a_y: np.ndarray  # uint16 alpha 0..256 at luma resolution
    a_c: np.ndarray  # uint16 alpha 0..256 at chroma resolution
    inv_y: np.ndarray  # 256 - a_y
    inv_c: np.ndarray
    pm_y: np.ndarray  # y * a_y + 128 (premultiplied, with the rounding term folded in)
    pm_u: np.ndarray
    pm_v: np.ndarray
    luma: Regions
    chroma: Regions


def _rgb_to_yuv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited range, what swscale uses for rgb24 -> yuv420p (and so the slate)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return y, u, v


def _q8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def sprite_from_rgba(image: Image.Image) -> Sprite:
    """Convert once; the sprite is then blended any number of times at no conversion cost."""
    rgba = image.convert("RGBA")
    w, h = rgba.size
    if w % 2 or h % 2:  # pad to even with transparency, so chroma pixels cover whole 2x2 blocks
        padded = Image.new("RGBA", (w + w % 2, h + h % 2), (0, 0, 0, 0))
        padded.paste(rgba, (0, 0))
        rgba, (w, h) = padded, padded.size
    arr = np.asarray(rgba, dtype=np.float32)
    alpha = arr[..., 3] / 255.0
    y, u, v = _rgb_to_yuv(arr[..., :3])
    a_y = np.rint(alpha * 256).astype(np.uint16)
    # Chroma: alpha-weighted average of each 2x2 block, so transparent pixels lend no colour.
    a4 = alpha.reshape(h // 2, 2, w // 2, 2)
    a_sum = a4.sum(axis=(1, 3))
    safe = np.where(a_sum > 0, a_sum, 1.0)
    u_c = np.where(a_sum > 0, (u.reshape(h // 2, 2, w // 2, 2) * a4).sum(axis=(1, 3)) / safe, 128.0)
    v_c = np.where(a_sum > 0, (v.reshape(h // 2, 2, w // 2, 2) * a4).sum(axis=(1, 3)) / safe, 128.0)
    a_c = np.rint(a_sum / 4 * 256).astype(np.uint16)
    y8, u8, v8 = _q8(y), _q8(u_c), _q8(v_c)
    return Sprite(
        width=w,
        height=h,
        y=y8,
        u=u8,
        v=v8,
        a_y=a_y,
        a_c=a_c,
        inv_y=(256 - a_y).astype(np.uint16),
        inv_c=(256 - a_c).astype(np.uint16),
        pm_y=(y8.astype(np.uint16) * a_y + 128).astype(np.uint16),
        pm_u=(u8.astype(np.uint16) * a_c + 128).astype(np.uint16),
        pm_v=(v8.astype(np.uint16) * a_c + 128).astype(np.uint16),
        luma=find_regions(a_y),
        chroma=find_regions(a_c),
    )


def _nonzero_bbox(mask: np.ndarray, x0: int = 0, y0: int = 0) -> Rect | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return (x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1)


def _area(r: Rect) -> int:
    return (r[2] - r[0]) * (r[3] - r[1])


def find_regions(alpha: np.ndarray) -> Regions:
    """Split a plane into one opaque rectangle (copied) and up to four partial bands (blended).

    A panel with rounded corners becomes: core = the rows between the corners, edges = the
    top and bottom bands. The core is grown from the middle of the bounding box: exact for
    panels, and for other shapes it just means more gets blended.
    """
    nonzero = alpha > 0
    bbox = _nonzero_bbox(nonzero)
    if bbox is None:
        return Regions(None, None, ())
    x0, y0, x1, y1 = bbox
    full = alpha >= 256
    my, mx = (y0 + y1) // 2, (x0 + x1) // 2
    if not full[my, mx]:
        return Regions(bbox, None, (bbox,))
    row = full[my, x0:x1]
    # The opaque run through the middle pixel of the middle row.
    left = mx - x0
    while left > 0 and row[left - 1]:
        left -= 1
    right = mx - x0 + 1
    while right < row.size and row[right]:
        right += 1
    cx0, cx1 = x0 + left, x0 + right
    cy0, cy1 = my, my + 1
    while cy0 > y0 and full[cy0 - 1, cx0:cx1].all():
        cy0 -= 1
    while cy1 < y1 and full[cy1, cx0:cx1].all():
        cy1 += 1
    core = (cx0, cy0, cx1, cy1)
    if _area(core) < _MIN_CORE_SHARE * _area(bbox):
        return Regions(bbox, None, (bbox,))
    edges = []
    for ex0, ey0, ex1, ey1 in ((x0, y0, x1, cy0), (x0, cy1, x1, y1), (x0, cy0, cx0, cy1), (cx1, cy0, x1, cy1)):
        if ex1 > ex0 and ey1 > ey0:
            trimmed = _nonzero_bbox(nonzero[ey0:ey1, ex0:ex1], ex0, ey0)
            if trimmed is not None:
                edges.append(trimmed)
    return Regions(bbox, core, tuple(edges))


def canvas_planes(canvas: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y, U, V planes of a packed I420 canvas (shape (h*3/2, w)); no copies."""
    h4 = height // 4
    y = canvas[:height]
    u = canvas[height : height + h4].reshape(height // 2, width // 2)
    v = canvas[height + h4 : height + 2 * h4].reshape(height // 2, width // 2)
    return y, u, v


def _clip(rect: Rect, ox: int, oy: int, dw: int, dh: int) -> tuple[slice, slice, slice, slice] | None:
    """Sprite rect placed at (ox, oy), clipped to the destination: (src rows, src cols, dst rows, dst cols)."""
    x0, y0, x1, y1 = rect
    dx0, dy0 = max(ox + x0, 0), max(oy + y0, 0)
    dx1, dy1 = min(ox + x1, dw), min(oy + y1, dh)
    if dx1 <= dx0 or dy1 <= dy0:
        return None
    return slice(dy0 - oy, dy1 - oy), slice(dx0 - ox, dx1 - ox), slice(dy0, dy1), slice(dx0, dx1)


# One step of a steady-state blend: (plane 0/1/2, dst rows, dst cols, src or inv, pm, scratch).
# pm None = copy src; else dst = (dst * inv + pm) >> 8 computed in the uint16 scratch buffer.
Op = tuple[int, slice, slice, np.ndarray, np.ndarray | None, np.ndarray | None]


@dataclass(frozen=True, eq=False)
class Plan:
    """A sprite at one position on one canvas size, worked out once: per frame only the numpy work
    is left (no clipping, no slicing of the sprite, no allocation). Not shareable between threads:
    the scratch buffers are written by every run."""

    ops: tuple[Op, ...]


def _plane_ops(
    plane: int, dw: int, dh: int, src: np.ndarray, pm: np.ndarray, inv: np.ndarray, r: Regions, ox: int, oy: int
) -> list[Op]:
    ops: list[Op] = []
    if r.core is not None:
        c = _clip(r.core, ox, oy, dw, dh)
        if c is not None:
            ops.append((plane, c[2], c[3], src[c[0], c[1]], None, None))
    for edge in r.edges:
        c = _clip(edge, ox, oy, dw, dh)
        if c is not None:
            inv_part = inv[c[0], c[1]]
            ops.append((plane, c[2], c[3], inv_part, pm[c[0], c[1]], np.empty(inv_part.shape, np.uint16)))
    return ops


def plan_steady(s: Sprite, x: int, y: int, width: int, height: int) -> Plan:
    x, y = x & ~1, y & ~1
    cw, ch = width // 2, height // 2
    return Plan(
        tuple(
            _plane_ops(0, width, height, s.y, s.pm_y, s.inv_y, s.luma, x, y)
            + _plane_ops(1, cw, ch, s.u, s.pm_u, s.inv_c, s.chroma, x // 2, y // 2)
            + _plane_ops(2, cw, ch, s.v, s.pm_v, s.inv_c, s.chroma, x // 2, y // 2)
        )
    )


def run_plan(canvas: np.ndarray, width: int, height: int, plan: Plan) -> None:
    planes = canvas_planes(canvas, width, height)
    for plane, rows, cols, a, pm, buf in plan.ops:
        d = planes[plane][rows, cols]
        if pm is None:
            d[...] = a
        else:
            np.multiply(d, a, out=buf)
            buf += pm
            buf >>= 8
            np.copyto(d, buf, casting="unsafe")


def _blend_faded(dst: np.ndarray, src: np.ndarray, alpha: np.ndarray, r: Regions, ox: int, oy: int, fade: int) -> None:
    """During animation only: every pixel blended, alpha scaled by ``fade`` (0..255)."""
    if r.bbox is None:
        return
    dh, dw = dst.shape
    c = _clip(r.bbox, ox, oy, dw, dh)
    if c is None:
        return
    a = np.multiply(alpha[c[0], c[1]], fade, dtype=np.uint16)  # <= 256*255: fits
    a >>= 8
    d = dst[c[2], c[3]]
    t = np.multiply(d, 256 - a, dtype=np.uint16)
    t += np.multiply(src[c[0], c[1]], a, dtype=np.uint16)
    t += 128
    t >>= 8
    np.copyto(d, t, casting="unsafe")


def blend_sprite(canvas: np.ndarray, width: int, height: int, s: Sprite, x: int, y: int, fade: int = 256) -> None:
    """Draw ``s`` with its top-left corner at (x, y) (may be partly off-canvas), in place.

    ``fade`` scales the sprite's alpha: 256 is the steady state (opaque parts copied),
    0 draws nothing. x and y are rounded down to even so chroma lines up.
    """
    if fade <= 0:
        return
    if fade >= 256:
        run_plan(canvas, width, height, plan_steady(s, x, y, width, height))
    else:
        x, y = x & ~1, y & ~1
        py, pu, pv = canvas_planes(canvas, width, height)
        _blend_faded(py, s.y, s.a_y, s.luma, x, y, fade)
        _blend_faded(pu, s.u, s.a_c, s.chroma, x // 2, y // 2, fade)
        _blend_faded(pv, s.v, s.a_c, s.chroma, x // 2, y // 2, fade)
