"""The overlay graphics' colours (RGBA, 0-255): one brand red and white for cards and lower thirds."""

from __future__ import annotations

Rgba = tuple[int, int, int, int]

WHITE: Rgba = (255, 255, 255, 255)
RED: Rgba = (214, 24, 40, 255)  # the brand accent: prices, headers, bars
DARK_RED: Rgba = (150, 10, 22, 255)
PANEL: Rgba = (250, 250, 248, 255)  # card background
INK: Rgba = (30, 30, 34, 255)  # body text on a panel
GREY: Rgba = (110, 110, 118, 255)
LIGHT_GREY: Rgba = (150, 150, 156, 255)
NAVY: Rgba = (16, 26, 56, 255)  # lower third background
SOFT: Rgba = (200, 208, 224, 255)  # secondary text on navy
