"""Graphics drawn over the composed program picture (cards, lower thirds, logo).

The control plane replaces the whole tuple of layers (an atomic reference
swap); the program clock thread blends whatever tuple it sees each tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)


class Layer(Protocol):
    def blend(self, canvas: np.ndarray, width: int, height: int, now: float) -> None:
        """Draw onto ``canvas`` (packed I420, shape (height*3/2, width)) in place.

        ``now`` is the program clock's time in seconds (monotonic), for animation.
        Called from the program clock thread: must not block, must be cheap.
        """


class OverlayStack:
    ERROR_LOG_EVERY = 10.0  # seconds: a layer failing every frame must not flood the log

    def __init__(self) -> None:
        self._layers: tuple[Layer, ...] = ()
        # Timed metadata cues that came with the layers (mixer/timedmetadata.py): taken by the
        # clock on the tick that first sees those layers, so each cue is stamped with its frame.
        self._cues: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.errors = 0
        self._last_error_log = float("-inf")

    @property
    def layers(self) -> tuple[Layer, ...]:
        return self._layers

    def set_layers(self, layers: tuple[Layer, ...], cues: Iterable[dict[str, Any]] = ()) -> None:
        with self._lock:  # layers and their cues together: the clock sees both or neither
            self._layers = layers
            self._cues.extend(cues)

    def take(self) -> tuple[tuple[Layer, ...], list[dict[str, Any]]]:
        """The layers to draw this tick and the cues that arrived with them (clock thread)."""
        with self._lock:
            cues, self._cues = self._cues, []
            return self._layers, cues

    def blend_into(
        self, canvas: np.ndarray, width: int, height: int, now: float, layers: tuple[Layer, ...] | None = None
    ) -> None:
        for layer in self._layers if layers is None else layers:
            try:
                layer.blend(canvas, width, height, now)
            except Exception:
                # A broken graphic must not cost the frame: the program goes on without it.
                self.errors += 1
                t = time.monotonic()
                if t - self._last_error_log >= self.ERROR_LOG_EVERY:
                    self._last_error_log = t
                    log.exception("graphics layer %r failed (%d failures so far)", layer, self.errors)
