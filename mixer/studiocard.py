"""The picture of a studio that sends sound only (a phone-in guest): its card.

Drawn once per session with Pillow (tens of ms at 720p: call it off the event
loop), kept as a yuv420p frame the size of the canvas, and composed like any
studio's picture (fitted into pip and side-by-side boxes by the compositor).
A warm dark field, so it never looks like the slate's dark blue: the studio's
photo (or its first letter in a circle), its name and place, and "audio only".
"""

from __future__ import annotations

import logging

import av
import numpy as np
from PIL import Image, ImageDraw, ImageOps

from mixer.fonts import cjk_font

log = logging.getLogger(__name__)

BACKGROUND = (58, 30, 40)  # warm aubergine; the slate is (12, 28, 64)
ACCENT = (232, 150, 40)
AUDIO_ONLY = "音频连线 · Audio only"


def load_photo(path: str) -> Image.Image:
    """The photo as RGB; raises OSError or ValueError if it is missing or not a picture."""
    try:
        with Image.open(path) as src:
            return src.convert("RGB")
    except Image.DecompressionBombError as exc:  # not an OSError: a hostile or absurd file
        raise ValueError(str(exc)) from None


def render_studio_card(width: int, height: int, name: str, place: str = "", photo: str = "") -> av.VideoFrame:
    """A ``width`` x ``height`` yuv420p card: photo (or initial), name, place, "audio only"."""
    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    short = min(width, height)
    size = short * 2 // 5  # the photo's circle
    cx, cy = width // 2, int(height * 0.36)
    box = (cx - size // 2, cy - size // 2, cx + size // 2, cy + size // 2)
    picture: Image.Image | None = None
    if photo:
        try:
            picture = ImageOps.fit(load_photo(photo), (size, size), Image.Resampling.LANCZOS)
        except (OSError, ValueError) as exc:
            log.warning("studio photo %s not drawn: %s", photo, exc)
    if picture is not None:
        mask = Image.new("L", (size, size), 0)
        ImageDraw.Draw(mask).ellipse((0, 0, size - 1, size - 1), fill=255)
        img.paste(picture, box[:2], mask)
        draw.ellipse(box, outline=ACCENT, width=max(2, short // 120))
    else:
        draw.ellipse(box, fill=ACCENT)
        initial = (name.strip() or "?")[0]
        draw.text((cx, cy), initial, font=cjk_font(max(12, size // 2)), fill=(255, 255, 255), anchor="mm")
    big, small = cjk_font(max(12, short // 11)), cjk_font(max(10, short // 20))
    draw.text((cx, height * 0.68), name, font=big, fill=(255, 255, 255), anchor="mm")
    if place:
        draw.text((cx, height * 0.79), place, font=small, fill=(230, 220, 210), anchor="mm")
    draw.text((cx, height * 0.89), AUDIO_ONLY, font=small, fill=ACCENT, anchor="mm")
    frame = av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")
    return frame.reformat(format="yuv420p")
