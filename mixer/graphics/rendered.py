"""What a renderer hands over: the RGBA picture and where things were drawn in it."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from mixer.graphics.countdown import CountdownStyle

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in the picture's pixels


@dataclass(frozen=True)
class CountdownSpot:
    """Where in a rendered card the countdown patch goes (even numbers), and how it looks."""

    x: int
    y: int
    width: int
    height: int
    style: CountdownStyle


@dataclass(frozen=True, eq=False)
class Rendered:
    image: Image.Image  # RGBA
    boxes: dict[str, Box] = field(default_factory=dict)  # e.g. "price", "name": for layout checks and tests
    countdown: CountdownSpot | None = None
