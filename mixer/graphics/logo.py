"""The show's logo in a top corner: an image when given, else the text on a dark pill."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from PIL import Image, ImageDraw

from mixer.graphics.rendered import Rendered
from mixer.graphics.text import ellipsize, fit_font

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogoContent:
    text: str
    image: str = ""  # path on disk; preferred over the text when it loads


@functools.lru_cache(maxsize=8)
def render_logo(content: LogoContent, scale: float, max_width: int) -> Rendered:
    height = max(8, int(round(56 * scale)))
    if content.image:
        try:
            with Image.open(content.image) as src:
                img = src.convert("RGBA")
            img.thumbnail((max_width, height), Image.Resampling.LANCZOS)
            return Rendered(img, {"logo": (0, 0, img.width, img.height)})
        except (OSError, ValueError) as exc:
            log.warning("logo image %s not drawn, using the text: %s", content.image, exc)
    pad = max(2, int(round(16 * scale)))
    f = fit_font(content.text, max(8, int(round(24 * scale))), max_width - 2 * pad, max(8, int(round(16 * scale))))
    text = ellipsize(content.text, f, max_width - 2 * pad)
    h = max(8, int(round(44 * scale))) & ~1
    w = min(max_width, int(f.getlength(text)) + 2 * pad) & ~1
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    # Translucent: the logo is always there, it should not hide much of the picture.
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=h // 2, fill=(10, 16, 36, 170))
    draw.text((w / 2, h / 2), text, font=f, fill=(255, 255, 255, 255), anchor="mm")
    return Rendered(img, {"logo": (0, 0, w, h)})
