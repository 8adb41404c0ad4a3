"""Where each graphic sits, scaled by the canvas: landscape (1280x720) and portrait (720x1280).

Landscape: logo top-left, tags top-right, lower third bottom-left, main card bottom-right.
Portrait (phones): the same corners, but the lower third spans the bottom and the main
card sits above it, so the two never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

from mixer.graphics.card import MAIN_WIDTH, TAG_WIDTH


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

    def main_card(self, w: int, h: int) -> tuple[int, int]:
        bottom = self.height - self.margin
        if self.portrait:
            bottom -= _even(140 * self.scale) + self.gap  # room for the lower third below
        return self.width - self.margin - w, bottom - h

    def tag(self, index: int, w: int, h: int) -> tuple[int, int]:
        """Tags stack down from the top-right corner: index 0 is tag1."""
        return self.width - self.margin - w, self.margin + index * (h + self.gap)

    def lower_third_max_width(self) -> int:
        if self.portrait:
            return self.width - 2 * self.margin
        return self.width - 3 * self.margin - _even(MAIN_WIDTH * self.scale)

    def lower_third(self, w: int, h: int) -> tuple[int, int]:
        return self.margin, self.height - self.margin - h

    def logo_max_width(self) -> int:
        """Clear of the tags in the other top corner."""
        return min(self.width - 3 * self.margin - _even(TAG_WIDTH * self.scale), _even(480 * self.scale))

    def logo(self, w: int, h: int) -> tuple[int, int]:
        return self.margin, self.margin
