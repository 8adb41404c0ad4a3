"""The flash-sale countdown: a small patch redrawn once per second, never per frame.

The patch is opaque (it repaints the card's background behind it), so it is
copied over the card rather than blended. Patches are cached by their text:
each second is drawn at most once, however many frames show it, and the next
second's patch is drawn ahead in a helper thread, so the clock thread normally
only ever blends.
"""

from __future__ import annotations

import functools
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image, ImageDraw

from mixer.graphics.blend import Sprite, sprite_from_rgba
from mixer.graphics.text import font

MAX_SECONDS = 99 * 60 + 59  # mm:ss


@dataclass(frozen=True)
class CountdownStyle:
    label: str  # e.g. "限时" before the time; may be empty
    size: int  # font size in pixels
    background: tuple[int, int, int, int]  # the card's colour around the pill
    pill: tuple[int, int, int, int]
    ink: tuple[int, int, int, int]


def seconds_left(deadline: float, now: float) -> int:
    """Whole seconds to show: 4:59.2 left shows 05:00 until it is 4:59.0 (like a wall clock)."""
    return max(0, min(MAX_SECONDS, math.ceil(deadline - now - 1e-9)))


def countdown_text(seconds: int) -> str:
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def render_countdown_image(width: int, height: int, style: CountdownStyle, seconds: int) -> Image.Image:
    img = Image.new("RGBA", (width, height), style.background)
    draw = ImageDraw.Draw(img)
    inset = max(1, height // 8)
    draw.rounded_rectangle((0, inset, width - 1, height - 1 - inset), radius=(height - 2 * inset) // 2, fill=style.pill)
    digits = font(style.size, bold=True, mono=True)  # monospaced: the digits do not jitter as they change
    text = countdown_text(seconds)
    if style.label:
        label = font(max(6, style.size * 4 // 5))
        lw = label.getlength(style.label + " ")
        total = lw + digits.getlength(text)
        x = (width - total) / 2
        draw.text((x, height / 2), style.label, font=label, fill=style.ink, anchor="lm")
        draw.text((x + lw, height / 2), text, font=digits, fill=style.ink, anchor="lm")
    else:
        draw.text((width / 2, height / 2), text, font=digits, fill=style.ink, anchor="mm")
    return img


# Only the current second of each countdown is needed again (the next frames); a few spare.
@functools.lru_cache(maxsize=64)
def countdown_sprite(width: int, height: int, style: CountdownStyle, seconds: int) -> Sprite:
    return sprite_from_rgba(render_countdown_image(width, height, style, seconds))


_ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="countdown-ahead")
_asked: set[tuple[int, int, CountdownStyle, int]] = set()
_asked_lock = threading.Lock()


def draw_ahead(width: int, height: int, style: CountdownStyle, seconds: int) -> None:
    """Have the patch for ``seconds`` drawn in the helper thread; cheap to call every frame."""
    key = (width, height, style, seconds)
    if key in _asked or seconds < 0:
        return
    with _asked_lock:
        if len(_asked) > 4096:  # old seconds are never asked for again
            _asked.clear()
        _asked.add(key)
    _ahead.submit(countdown_sprite, width, height, style, seconds)


def wait_ahead() -> None:
    """Until the helper thread has drawn everything asked of it so far (tests)."""
    _ahead.submit(lambda: None).result()


def countdown_renders() -> int:
    """How many patches were actually drawn (tests: one per second shown, not one per frame)."""
    return countdown_sprite.cache_info().misses
