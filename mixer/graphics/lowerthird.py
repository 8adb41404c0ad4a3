"""The lower third: who is speaking and from where, drawn once per content."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from PIL import Image, ImageDraw

from mixer.graphics.palette import NAVY, RED, SOFT, WHITE
from mixer.graphics.rendered import Box, Rendered
from mixer.graphics.text import draw_fitted, fit_font, font, text_width


@dataclass(frozen=True)
class LowerThirdContent:
    key: str  # studio id: a different studio animates out and in, the same one updates in place
    title: str  # host name, or the studio's name
    subtitle: str = ""  # studio and place
    text: str = ""  # optional custom line (e.g. what is being presented), on a red ribbon


@functools.lru_cache(maxsize=8)
def render_lower_third(content: LowerThirdContent, scale: float, max_width: int) -> Rendered:
    def u(n: float) -> int:
        return max(1, int(round(n * scale)))

    pad, bar = u(18), u(8)
    title_f = fit_font(content.title, u(34), max_width - bar - 2 * pad, u(22))
    sub_f = font(u(20), bold=False)
    ribbon_f = font(u(18))
    inner = max(
        text_width(content.title, title_f),
        text_width(content.subtitle, sub_f) if content.subtitle else 0,
        u(220),
    )
    w = min(max_width, bar + 2 * pad + inner) & ~1
    ribbon_h = u(30) if content.text else 0
    panel_h = u(12) + u(40) + (u(28) if content.subtitle else 0) + u(10)
    h = (ribbon_h + panel_h + 1) & ~1
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    boxes: dict[str, Box] = {"lower_third": (0, 0, w, h)}
    if content.text:
        rw = min(w, text_width(content.text, ribbon_f) + 2 * pad) & ~1
        draw.rectangle((0, 0, rw - 1, ribbon_h - 1), fill=RED)
        boxes["text"] = draw_fitted(draw, (pad, ribbon_h // 2), content.text, u(18), rw - 2 * pad, WHITE, anchor="lm")
    top = ribbon_h
    draw.rectangle((0, top, w - 1, h - 1), fill=NAVY)
    draw.rectangle((0, top, bar - 1, h - 1), fill=RED)
    x = bar + pad
    boxes["title"] = draw_fitted(draw, (x, top + u(12)), content.title, u(34), w - x - pad, WHITE, min_size=u(22))
    if content.subtitle:
        boxes["subtitle"] = draw_fitted(
            draw, (x, top + u(12) + u(42)), content.subtitle, u(20), w - x - pad, SOFT, bold=False
        )
    return Rendered(img, boxes)
