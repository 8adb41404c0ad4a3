"""Graphics drawn over the composed program picture (cards, lower thirds, logo).

The control plane replaces the whole tuple of layers (an atomic reference
swap); the program clock thread blends whatever tuple it sees each tick.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Layer(Protocol):
    def blend(self, canvas: np.ndarray, width: int, height: int, now: float) -> None:
        """Draw onto ``canvas`` (packed I420, shape (height*3/2, width)) in place.

        ``now`` is the program clock's time in seconds (monotonic), for animation.
        Called from the program clock thread: must not block, must be cheap.
        """


class OverlayStack:
    def __init__(self) -> None:
        self._layers: tuple[Layer, ...] = ()

    @property
    def layers(self) -> tuple[Layer, ...]:
        return self._layers

    def set_layers(self, layers: tuple[Layer, ...]) -> None:
        self._layers = layers

    def blend_into(self, canvas: np.ndarray, width: int, height: int, now: float) -> None:
        for layer in self._layers:
            layer.blend(canvas, width, height, now)
