"""Compose the program picture on I420 planes (numpy, integer math).

Runs in the program clock's thread only. A picture is a :class:`Bus` (a layout
of studios, or the slate); each studio is scaled into its box by a
:class:`FittedPicture` kept per (studio, box size), so scalers are built once
and an unchanged source frame costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from mixer.fitter import SCALER_THREADS, FittedPicture, fit_size
from mixer.layout import boxes
from mixer.planes import BLACK, Yuv, blit, packed, packed_planes, rgb_to_yuv
from mixer.scene import Bus
from mixer.slate import render_slate

__all__ = ["Compositor", "fit_size", "planes_to_frame"]

Picture = tuple[av.VideoFrame, int]  # a source frame and its unique token


class Compositor:
    SLOTS = 2  # a transition composes two pictures per tick

    def __init__(self, width: int, height: int, slate_title: str, slate_text: str) -> None:
        self.width, self.height = width, height
        self._slate = render_slate(width, height, slate_title, slate_text)
        self._scratch = [packed(width, height) for _ in range(self.SLOTS)]
        self._fitted: dict[tuple[str, int, int], FittedPicture] = {}
        self._black = packed(width, height)
        for plane, value in zip(packed_planes(self._black), BLACK, strict=True):
            plane[:] = value
        self._slate_boxes: dict[tuple[int, int], np.ndarray] = {}
        self.fit_mode = "fit"
        self.fill_yuv: Yuv = BLACK

    def configure(self, fit_mode: str, fill_rgb: tuple[int, int, int]) -> None:
        """Fit mode and side colour; cached pictures are redrawn when they change."""
        fill_yuv = rgb_to_yuv(fill_rgb)
        if (fit_mode, fill_yuv) != (self.fit_mode, self.fill_yuv):
            self.fit_mode, self.fill_yuv = fit_mode, fill_yuv
            self._fitted.clear()

    def forget(self, studio_id: str) -> None:
        for key in [k for k in self._fitted if k[0] == studio_id]:
            del self._fitted[key]

    def compose_slate(self) -> np.ndarray:
        return self._slate

    def compose(self, bus: Bus, pictures: Mapping[str, Picture], slot: int = 0) -> np.ndarray:
        """The bus's picture, read-only: it may be a cached array shared with later ticks.

        Studios missing from ``pictures`` (not live) show the slate in their box.
        """
        if bus.layout == "black":
            return self._black
        if bus.is_slate:
            return self._slate
        layout = boxes(bus.layout, self.width, self.height, bus.corner)
        if len(layout) == 1 or len(bus.studios) == 1:
            return self._box_picture(bus.studios[0], pictures, self.width, self.height)
        canvas = self._scratch[slot]
        planes = packed_planes(canvas)
        for box, studio in zip(layout, bus.studios, strict=False):
            blit(planes, packed_planes(self._box_picture(studio, pictures, box.w, box.h)), box.x, box.y)
        return canvas

    def _box_picture(self, studio: str, pictures: Mapping[str, Picture], w: int, h: int) -> np.ndarray:
        picture = pictures.get(studio)
        if picture is None:
            return self._slate_box(w, h)
        fitted = self._fitted.get((studio, w, h))
        if fitted is None:
            fitted = self._fitted[(studio, w, h)] = FittedPicture(w, h, self.fit_mode, self.fill_yuv)
        return fitted.update(*picture)

    def _slate_box(self, w: int, h: int) -> np.ndarray:
        if (w, h) == (self.width, self.height):
            return self._slate
        cached = self._slate_boxes.get((w, h))
        if cached is None:
            fitted = FittedPicture(w, h, "crop", BLACK)
            cached = self._slate_boxes[(w, h)] = fitted.update(planes_to_frame(self._slate), 0)
        return cached


def planes_to_frame(planes: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


def scale_packed(planes: np.ndarray, width: int, height: int) -> np.ndarray:
    """A packed picture scaled to another size (for one-off use: builds a scaler)."""
    frame = VideoReformatter().reformat(
        planes_to_frame(planes),
        width=width,
        height=height,
        interpolation=Interpolation.BILINEAR,
        threads=SCALER_THREADS,
    )
    return frame.to_ndarray()
