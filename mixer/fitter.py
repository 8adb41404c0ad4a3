"""One studio's picture scaled into one box: fit (coloured sides), crop (fill) or blur.

One instance per (studio, box size): it keeps its own VideoReformatters (a
scaler is built once per input and size, never per frame) and its result, so
an unchanged source frame costs nothing on the next tick.
"""

from __future__ import annotations

import os

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from mixer.planes import Yuv, blit, fill, frame_planes, packed, packed_planes, region

# The blurred sides are refreshed every few source frames: they move slowly by
# nature, and the two extra scales are the most expensive part of this mode.
BLUR_EVERY = 3
BLUR_DIVISOR = 24  # blur = downscale to 1/24 with area averaging, then bilinear back up
# swscale threads per scale. Its automatic choice (threads=0) cost more wall AND CPU time
# than an explicit 2 on the 2-core production machines (bench/compose.py, fade pip ->
# side-by-side: median 1.29-1.37 ms wall, 1.63-1.72 CPU with 0; 1.07-1.14 wall, 1.54-1.58
# CPU with 2), and 1 thread is slowest in wall time (~1.49 ms). Slices give the same
# pixels whatever the thread count.
SCALER_THREADS = min(2, os.cpu_count() or 1)


def fit_size(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int]:
    """Largest even size with the source's aspect that fits the destination."""
    scale = min(dst_w / src_w, dst_h / src_h)
    return min(dst_w, max(2, int(src_w * scale + 0.5) & ~1)), min(dst_h, max(2, int(src_h * scale + 0.5) & ~1))


def crop_rect(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """The centred part of the source with the destination's aspect (x, y, w, h; even)."""
    if src_w * dst_h > src_h * dst_w:  # source wider: cut the sides
        w, h = min(src_w, int(src_h * dst_w / dst_h + 0.5)), src_h
    else:
        w, h = src_w, min(src_h, int(src_w * dst_h / dst_w + 0.5))
    w, h = max(2, w & ~1), max(2, h & ~1)
    return ((src_w - w) // 2) & ~1, ((src_h - h) // 2) & ~1, w, h


class FittedPicture:
    def __init__(self, width: int, height: int, mode: str, fill_yuv: Yuv) -> None:
        self.width, self.height, self.mode, self.fill_yuv = width, height, mode, fill_yuv
        self.out = packed(width, height)
        self._out_planes = packed_planes(self.out)
        self._scaler = VideoReformatter()
        self._to_yuv420 = VideoReformatter()
        self._blur_down = VideoReformatter()
        self._blur_up = VideoReformatter()
        self._staging: av.VideoFrame | None = None  # the cropped source, for crop and blur
        self._token = -1
        self._geometry: tuple[int, int] | None = None  # source size the sides were drawn for
        self._blur_age = 0

    def update(self, frame: av.VideoFrame, token: int) -> np.ndarray:
        """The box's picture (packed I420, box size) for this source frame."""
        if token == self._token:
            return self.out
        self._token = token
        if frame.format.name != "yuv420p":
            frame = self._to_yuv420.reformat(frame, format="yuv420p", threads=SCALER_THREADS)
        sw, sh = frame.width & ~1, frame.height & ~1
        if self._geometry != (sw, sh):
            self._geometry = (sw, sh)
            self._blur_age = 0
            fill(self._out_planes, self.fill_yuv)
        if self.mode == "crop":
            self._scale_into(self._cropped(frame, sw, sh), self._out_planes, self.width, self.height)
            return self.out
        fw, fh = fit_size(sw, sh, self.width, self.height)
        if self.mode == "blur" and (fw, fh) != (self.width, self.height):
            if self._blur_age % BLUR_EVERY == 0:
                self._blur_sides(self._cropped(frame, sw, sh))
            self._blur_age += 1
        x, y = ((self.width - fw) // 2) & ~1, ((self.height - fh) // 2) & ~1
        self._scale_into(frame, region(self._out_planes, x, y, fw, fh), fw, fh)
        return self.out

    def _scale_into(self, frame: av.VideoFrame, dst: tuple[np.ndarray, ...], w: int, h: int) -> None:
        scaled = self._scaler.reformat(
            frame, width=w, height=h, format="yuv420p", interpolation=Interpolation.BILINEAR, threads=SCALER_THREADS
        )
        for d, s in zip(dst, frame_planes(scaled), strict=True):
            d[...] = s

    def _cropped(self, frame: av.VideoFrame, sw: int, sh: int) -> av.VideoFrame:
        """The source cut to the box's aspect; copied into a reused staging frame."""
        x, y, w, h = crop_rect(sw, sh, self.width, self.height)
        if (w, h) == (frame.width, frame.height):
            return frame
        if self._staging is None or (self._staging.width, self._staging.height) != (w, h):
            self._staging = av.VideoFrame(w, h, "yuv420p")
        blit(frame_planes(self._staging), region(frame_planes(frame), x, y, w, h))
        return self._staging

    def _blur_sides(self, cover: av.VideoFrame) -> None:
        tiny = self._blur_down.reformat(
            cover,
            width=max(2, (self.width // BLUR_DIVISOR) & ~1),
            height=max(2, (self.height // BLUR_DIVISOR) & ~1),
            format="yuv420p",
            interpolation=Interpolation.AREA,
            threads=SCALER_THREADS,
        )
        big = self._blur_up.reformat(
            tiny,
            width=self.width,
            height=self.height,
            format="yuv420p",
            interpolation=Interpolation.BILINEAR,
            threads=SCALER_THREADS,
        )
        y, u, v = frame_planes(big)
        # Dimmed to 3/4 (luma above black only), so the sharp picture stands out.
        np.right_shift(y, 2, out=self._out_planes[0])
        np.multiply(self._out_planes[0], 3, out=self._out_planes[0])
        np.add(self._out_planes[0], 4, out=self._out_planes[0])
        self._out_planes[1][...] = u
        self._out_planes[2][...] = v
