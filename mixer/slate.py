"""The safe picture: drawn once with Pillow, kept as I420 planes."""

from __future__ import annotations

import av
import numpy as np
from PIL import Image, ImageDraw

from mixer.fonts import cjk_font


def render_slate(width: int, height: int, title: str, text: str) -> np.ndarray:
    """Dark blue field, the show title and the slate text, as packed I420."""
    img = Image.new("RGB", (width, height), (12, 28, 64))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, height * 0.62, width, height * 0.64), fill=(200, 30, 40))
    big, small = cjk_font(max(12, height // 12)), cjk_font(max(10, height // 20))
    draw.text((width / 2, height * 0.40), title, font=big, fill=(255, 255, 255), anchor="mm")
    draw.text((width / 2, height * 0.75), text, font=small, fill=(220, 220, 220), anchor="mm")
    frame = av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")
    return frame.reformat(format="yuv420p").to_ndarray()
