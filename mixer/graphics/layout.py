"""Where each graphic sits, scaled by the canvas: landscape (1280x720) and portrait (720x1280).

Landscape: logo top-left, tags top-right, lower third bottom-left, main card bottom-right.

Portrait (phones): the platform's app draws its own interface over the picture (status bar and
the host's header at the top; comments, the buy button and the input bar at the bottom), so
the graphics keep out of a top and a bottom band (``SAFE_TOP``, ``SAFE_BOTTOM``). Top: the
logo, then the lower third across the width, then the tags on the right; the main card sits
in the bottom third, right above the bottom band. Nothing overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass

from mixer.graphics.card import MAIN_WIDTH, TAG_WIDTH

# Portrait bands kept clear for the platform's own interface, as shares of the height. Our
# working figures from the live-commerce apps' layouts (header ~6%, bottom interface ~20% of a
# 9:16 screen); change them here if a platform needs more.
SAFE_TOP = 0.06
SAFE_BOTTOM = 0.20
LOGO_ROW = 56  # pixels at scale 1: the logo's height (mixer/graphics/logo.py)
LOWER_THIRD_ROW = 124  # the tallest lower third: ribbon, title and subtitle (mixer/graphics/lowerthird.py)


def _even(n: float) -> int:
    return int(round(n)) & ~1


@dataclass(frozen=True)
class Layout:
    width: int
    height: int

    @property
    def scale(self) -> float:
        """1.0 for a 720-pixel short side (720p landscape and 720x1280 portrait)."""
        return min(self.width, self.height) / 720

    @property
    def portrait(self) -> bool:
        return self.height > self.width

    @property
    def margin(self) -> int:
        return max(2, _even(24 * self.scale))

    @property
    def gap(self) -> int:
        return max(2, _even(10 * self.scale))

    @property
    def top(self) -> int:
        """The first row graphics may use: below the platform's header on a portrait canvas."""
        return max(self.margin, _even(self.height * SAFE_TOP)) if self.portrait else self.margin

    @property
    def bottom(self) -> int:
        """The row graphics end above: above the platform's bottom interface on a portrait canvas."""
        return self.height - (_even(self.height * SAFE_BOTTOM) if self.portrait else self.margin)

    def main_card(self, w: int, h: int) -> tuple[int, int]:
        return self.width - self.margin - w, self.bottom - h

    def tag(self, index: int, w: int, h: int) -> tuple[int, int]:
        """Tags stack down on the right, index 0 (tag1) first: from the top-right corner, or on a
        portrait canvas from under the lower third's row."""
        first = self.top
        if self.portrait:
            first = self.lower_third(w, h)[1] + _even(LOWER_THIRD_ROW * self.scale) + self.gap
        return self.width - self.margin - w, first + index * (h + self.gap)

    def lower_third_max_width(self) -> int:
        if self.portrait:
            return self.width - 2 * self.margin
        return self.width - 3 * self.margin - _even(MAIN_WIDTH * self.scale)

    def lower_third(self, w: int, h: int) -> tuple[int, int]:
        if self.portrait:  # on top, under the logo's row
            return self.margin, self.top + _even(LOGO_ROW * self.scale) + self.gap
        return self.margin, self.height - self.margin - h

    def logo_max_width(self) -> int:
        """Clear of the tags in the other top corner (a row of its own on a portrait canvas)."""
        if self.portrait:
            return min(self.width - 2 * self.margin, _even(480 * self.scale))
        return min(self.width - 3 * self.margin - _even(TAG_WIDTH * self.scale), _even(480 * self.scale))

    def logo(self, w: int, h: int) -> tuple[int, int]:
        return self.margin, self.top
