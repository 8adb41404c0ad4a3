"""One graphic on air (card, lower third, logo): a sprite, where it sits, how it moves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixer.graphics.blend import Plan, Sprite, blend_sprite, plan_steady, run_plan
from mixer.graphics.countdown import countdown_sprite, draw_ahead, seconds_left
from mixer.graphics.motion import Motion
from mixer.graphics.rendered import CountdownSpot


@dataclass(frozen=True, eq=False)
class Placed:
    """A layer's whole picture, swapped as one reference so the clock never sees half an update."""

    identity: str  # what is shown (product id, studio id): a new identity animates, same one updates
    sprite: Sprite
    x: int
    y: int
    countdown: CountdownSpot | None = None
    deadline: float | None = None  # monotonic seconds at which the countdown shows 00:00


class GraphicLayer:
    def __init__(self, key: str, placed: Placed, motion: Motion) -> None:
        self.key = key
        self.placed = placed
        self.motion = motion
        # Steady-state blend plans, remade only when the sprite, its place or the canvas changes.
        # Touched by the program clock thread only.
        self._plans: dict[str, tuple[tuple[object, ...], Plan]] = {}

    def _steady(self, name: str, canvas: np.ndarray, w: int, h: int, sprite: Sprite, x: int, y: int) -> None:
        key = (sprite, x, y, w, h)
        cached = self._plans.get(name)
        if cached is None or cached[0] != key:
            cached = (key, plan_steady(sprite, x, y, w, h))
            self._plans[name] = cached
        run_plan(canvas, w, h, cached[1])

    @property
    def identity(self) -> str:
        return self.placed.identity

    def update(self, placed: Placed) -> None:
        self.placed = placed  # atomic reference swap; no animation for a data change

    def blend(self, canvas: np.ndarray, width: int, height: int, now: float) -> None:
        p = self.placed
        dx, dy, fade = self.motion.frame(now)
        if fade <= 0:
            return
        x, y = p.x + dx, p.y + dy
        if fade >= 256:
            self._steady("card", canvas, width, height, p.sprite, x, y)
        else:
            blend_sprite(canvas, width, height, p.sprite, x, y, fade)
        if p.countdown is not None and p.deadline is not None:
            spot = p.countdown
            left = seconds_left(p.deadline, now)
            patch = countdown_sprite(spot.width, spot.height, spot.style, left)
            if fade >= 256:
                self._steady("countdown", canvas, width, height, patch, x + spot.x, y + spot.y)
            else:
                blend_sprite(canvas, width, height, patch, x + spot.x, y + spot.y, fade)
            draw_ahead(spot.width, spot.height, spot.style, left - 1)
