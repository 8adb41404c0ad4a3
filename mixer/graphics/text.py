"""Fonts and text fitting for graphics: Noto Sans CJK SC, so Chinese never renders as boxes."""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from PIL import ImageDraw, ImageFont

from mixer.fonts import cjk_font

NOTO_DIR = Path("/usr/share/fonts/opentype/noto")
# Face 2 of the Noto Sans CJK collections is Simplified Chinese; 7 is its monospaced cut.
SC, SC_MONO = 2, 7

Font = ImageFont.FreeTypeFont


@functools.lru_cache(maxsize=128)
def font(size: int, bold: bool = True, mono: bool = False) -> Font:
    size = max(6, int(size))
    path = NOTO_DIR / ("NotoSansCJK-Bold.ttc" if bold else "NotoSansCJK-Regular.ttc")
    if path.exists():
        return ImageFont.truetype(str(path), size, index=SC_MONO if mono else SC)
    return cjk_font(size)  # whatever CJK font the machine has (raises FontMissing if none)


def text_width(text: str, f: Font) -> int:
    return int(round(f.getlength(text)))


def fit_font(text: str, size: int, max_width: int, min_size: int, bold: bool = True) -> Font:
    """The largest font from ``size`` down to ``min_size`` in which ``text`` fits."""
    s = size
    while s > min_size and text_width(text, font(s, bold)) > max_width:
        s -= 1
    return font(s, bold)


def ellipsize(text: str, f: Font, max_width: int) -> str:
    """Cut ``text`` to ``max_width`` with a trailing ellipsis (CJK has no word breaks to respect)."""
    if text_width(text, f) <= max_width:
        return text
    while text and text_width(text + "…", f) > max_width:
        text = text[:-1]
    return text + "…" if text else ""


def draw_fitted(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    size: int,
    max_width: int,
    fill: tuple[int, ...],
    *,
    min_size: int | None = None,
    bold: bool = True,
    anchor: str = "la",
) -> tuple[int, int, int, int]:
    """Draw ``text`` shrunk (to ``min_size``) and then cut to fit; returns the box drawn."""
    f = fit_font(text, size, max_width, min_size or max(6, size * 3 // 4), bold)
    shown = ellipsize(text, f, max_width)
    draw.text(xy, shown, font=f, fill=fill, anchor=anchor)
    box = draw.textbbox(xy, shown, font=f, anchor=anchor)
    return int(box[0]), int(box[1]), int(box[2]), int(box[3])


def format_price(price: float) -> str:
    """Yuan for display: 39.9 -> '39.9', 119800 -> '119,800', 12.5 -> '12.5', 3.05 -> '3.05'."""
    d = Decimal(str(price)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    whole, cents = divmod(d, 1)
    text = f"{int(whole):,}"
    if cents:
        text += f"{cents:.2f}"[1:].rstrip("0")
    return text
