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
import queue
import threading
from collections.abc import Callable
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


class _AheadDrawer:
    """One daemon thread that draws patches asked for ahead of time.

    A daemon, started on first use: a drawing helper must never keep the process
    alive at exit (a module-level executor's worker did). The queue is bounded and
    a full queue drops the request: the clock thread then draws the patch itself.
    """

    QUEUE = 32

    def __init__(self) -> None:
        self._jobs: queue.Queue[Callable[[], object]] = queue.Queue(maxsize=self.QUEUE)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, job: Callable[[], object]) -> bool:
        """Queue ``job``; False when the queue is full (the job is dropped)."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="countdown-ahead", daemon=True)
                self._thread.start()
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            return False
        return True

    def _run(self) -> None:
        while True:
            self._jobs.get()()

    def drain(self) -> None:
        """Block until every job queued so far has run."""
        done = threading.Event()
        self._jobs.put(done.set)
        done.wait()


_ahead = _AheadDrawer()
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
    if not _ahead.submit(functools.partial(countdown_sprite, width, height, style, seconds)):
        with _asked_lock:
            _asked.discard(key)


def wait_ahead() -> None:
    """Until the helper thread has drawn everything asked of it so far (tests)."""
    _ahead.drain()


def countdown_renders() -> int:
    """How many patches were actually drawn (tests: one per second shown, not one per frame)."""
    return countdown_sprite.cache_info().misses
