"""Compose the program picture on I420 planes (numpy, integer math).

Runs in the program clock's thread only. One scaler per input is kept, since
``frame.reformat()`` would build a new one on every call.
"""

from __future__ import annotations

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from mixer.slate import render_slate

BLACK_Y, BLACK_UV = 16, 128


def fit_size(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int]:
    """Largest size with the source's aspect that fits the destination.

    Width even and height a multiple of 4, so the packed I420 array of PyAV
    (chroma rows folded into luma-width rows) has whole rows.
    """
    scale = min(dst_w / src_w, dst_h / src_h)
    return max(2, int(src_w * scale + 0.5) & ~1), max(4, int(src_h * scale + 0.5) & ~3)


class _Input:
    """A studio's last converted frame, kept so an unchanged frame costs nothing."""

    def __init__(self) -> None:
        self.scaler = VideoReformatter()
        self.seq = -1
        self.planes: np.ndarray | None = None  # I420 packed (h*3/2, w)


class Compositor:
    def __init__(self, width: int, height: int, slate_title: str, slate_text: str) -> None:
        self.width, self.height = width, height
        self._canvas = np.empty((height * 3 // 2, width), dtype=np.uint8)
        self._slate = render_slate(width, height, slate_title, slate_text)
        self._inputs: dict[str, _Input] = {}

    def _converted(self, studio_id: str, frame: av.VideoFrame, seq: int) -> np.ndarray:
        inp = self._inputs.setdefault(studio_id, _Input())
        if inp.seq != seq or inp.planes is None:
            w, h = fit_size(frame.width, frame.height, self.width, self.height)
            scaled = inp.scaler.reformat(frame, width=w, height=h, format="yuv420p")
            inp.planes = scaled.to_ndarray()
            inp.seq = seq
        return inp.planes

    def forget(self, studio_id: str) -> None:
        self._inputs.pop(studio_id, None)

    def compose_slate(self) -> np.ndarray:
        return self._slate

    def compose_single(self, studio_id: str, frame: av.VideoFrame, seq: int) -> np.ndarray:
        """The studio fitted to the canvas, centred, black bars where it does not fill."""
        src = self._converted(studio_id, frame, seq)
        w = src.shape[1]
        h = src.shape[0] * 2 // 3
        if (w, h) == (self.width, self.height):
            return src
        W, H = self.width, self.height
        canvas = self._canvas
        canvas[:H] = BLACK_Y
        canvas[H:] = BLACK_UV
        x, y = ((W - w) // 2) & ~1, ((H - h) // 2) & ~1
        canvas[y : y + h, x : x + w] = src[:h]
        # U and V planes are stored as rows of half width, two per canvas row.
        _blit_chroma(canvas[H:], src[h:], W, H, w, h, x, y)
        return canvas


def _blit_chroma(dst: np.ndarray, src: np.ndarray, W: int, H: int, w: int, h: int, x: int, y: int) -> None:
    dst_u = dst[: H // 4].reshape(H // 2, W // 2)
    dst_v = dst[H // 4 :].reshape(H // 2, W // 2)
    src_u = src[: h // 4].reshape(h // 2, w // 2)
    src_v = src[h // 4 :].reshape(h // 2, w // 2)
    dst_u[y // 2 : y // 2 + h // 2, x // 2 : x // 2 + w // 2] = src_u
    dst_v[y // 2 : y // 2 + h // 2, x // 2 : x // 2 + w // 2] = src_v


def planes_to_frame(planes: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")
