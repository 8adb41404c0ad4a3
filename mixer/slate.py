"""The safe picture: drawn once with Pillow, kept as I420 planes."""

from __future__ import annotations

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mixer.fonts import cjk_font

MARGIN = 0.06  # of the width, each side: the text never reaches the picture's edges
MAX_LINES = 3


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Greedy line breaks at spaces; a word (or a run of Chinese, which has no spaces) longer
    than the line is broken between characters."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for ch in word:
            if line and font.getlength(line + ch) > width:
                lines.append(line)
                line = ""
            line += ch
    if line:
        lines.append(line)
    return lines


def fit_text(text: str, size: int, width: float, max_lines: int = MAX_LINES) -> tuple[ImageFont.FreeTypeFont, str]:
    """The largest font (``size`` down to 8 px) at which ``text`` wraps into ``max_lines`` lines of
    at most ``width`` pixels; returns the font and the text with its line breaks."""
    while True:
        font = cjk_font(size)
        lines = _wrap(text, font, width)
        if size <= 8 or (len(lines) <= max_lines and all(font.getlength(x) <= width for x in lines)):
            return font, "\n".join(lines)
        size = max(8, int(size * 0.9))


def render_slate(width: int, height: int, title: str, text: str) -> np.ndarray:
    """Dark blue field, the show title and the slate text, as packed I420.

    Sizes follow the short side (one look in 16:9 and 9:16); each text is wrapped and shrunk to
    fit the width less ``MARGIN`` each side (a 9:16 slate cut the title off at both edges).
    """
    img = Image.new("RGB", (width, height), (12, 28, 64))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, height * 0.62, width, height * 0.64), fill=(200, 30, 40))
    short = min(width, height)
    room = width * (1 - 2 * MARGIN)
    big, title_lines = fit_text(title, max(12, short // 12), room)
    small, text_lines = fit_text(text, max(10, short // 20), room, max_lines=2)
    centre = width / 2
    draw.multiline_text(
        (centre, height * 0.40), title_lines, font=big, fill=(255, 255, 255), anchor="mm", align="center"
    )
    draw.multiline_text(
        (centre, height * 0.75), text_lines, font=small, fill=(220, 220, 220), anchor="mm", align="center"
    )
    frame = av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")
    return frame.reformat(format="yuv420p").to_ndarray()
