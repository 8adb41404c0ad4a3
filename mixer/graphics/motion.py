"""Enter and exit animation: a fade plus a short slide, computed per frame from the clock.

Animating costs no rendering: each frame only changes where a sprite is blended and
how strongly (its alpha is scaled).
"""

from __future__ import annotations

DURATION = 0.3  # seconds


def _ease_out(t: float) -> float:
    return 1 - (1 - t) ** 3


class Motion:
    def __init__(self, start: float, slide: tuple[int, int] = (0, 0), duration: float = DURATION) -> None:
        self.start = start
        self.slide = slide  # offset when fully hidden; 0 when fully shown
        self.duration = duration
        self.hide_at: float | None = None  # set from the event loop; one float store is atomic

    def hide(self, now: float) -> None:
        if self.hide_at is None:
            # Leaving while still entering: start the exit from where the entry got to.
            shown = self.progress(now)
            self.hide_at = now - (1 - shown) * self.duration

    def progress(self, now: float) -> float:
        """0 = hidden, 1 = fully shown."""
        d = self.duration
        p = 1.0 if d <= 0 else min(1.0, max(0.0, (now - self.start) / d))
        if self.hide_at is not None:
            q = 1.0 if d <= 0 else min(1.0, max(0.0, (now - self.hide_at) / d))
            p = min(p, 1 - q)
        return p

    def done(self, now: float) -> bool:
        return self.hide_at is not None and now >= self.hide_at + self.duration

    def frame(self, now: float) -> tuple[int, int, int]:
        """(dx, dy, fade 0..256) for this frame."""
        p = self.progress(now)
        if p >= 1.0:
            return 0, 0, 256
        e = _ease_out(p)
        rest = 1 - e
        return int(self.slide[0] * rest), int(self.slide[1] * rest), int(255 * e)
