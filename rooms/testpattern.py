"""The synthetic studio's test picture: colour bars with a label, a moving block, a clock and a
machine-readable frame counter (or a solid colour), produced as yuv420p frames cheaply.

Also the pieces it is made of that tests use to check what came out the other end: text
rendering, the YUV plane helpers and :func:`read_frame_counter`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

PATTERN_BARS = "bars"

# Named solid colours (sRGB); tests recognise a studio on air by its colour.
SOLID_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "orange": (255, 128, 0),
    "purple": (128, 0, 128),
}

# CJK first so Chinese labels never come out as boxes; index 2 of the .ttc is Simplified Chinese.
LABEL_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 0),
)
CLOCK_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf", 0),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 7),  # Noto Sans Mono CJK SC
)
CLOCK_CHARS = "0123456789:.# "

# Distinct grain tiles cycled in the noise strip (x264 veryfast references only the last frame).
NOISE_TILES = 8

# Frame-index barcode: COUNTER_BITS black/white squares, machine-readable without OCR.
COUNTER_BITS = 24

# 75% SMPTE-style colour bars.
BAR_COLOURS: tuple[tuple[int, int, int], ...] = (
    (191, 191, 191),
    (191, 191, 0),
    (0, 191, 191),
    (0, 191, 0),
    (191, 0, 191),
    (191, 0, 0),
    (0, 0, 191),
)


Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def load_font(size: int, candidates: Sequence[tuple[str, int]] = LABEL_FONTS) -> Font:
    """The first installed font of ``candidates`` at ``size`` pixels (Pillow's own as a last resort)."""
    for path, index in candidates:
        if os.path.exists(path):
            return ImageFont.truetype(path, size, index=index)
    return ImageFont.load_default(size)


def render_text(text: str, size: int, font: Font | None = None) -> Image.Image:
    """``text`` as white-on-black 8-bit coverage ("L"), cropped to the ink plus a small margin."""
    font = font or load_font(size)
    left, top, right, bottom = (int(v) for v in font.getbbox(text))
    margin = max(2, size // 10)
    image = Image.new("L", (max(1, right - left) + 2 * margin, max(1, bottom - top) + 2 * margin), 0)
    ImageDraw.Draw(image).text((margin - left, margin - top), text, fill=255, font=font)
    return image


def _plane_array(plane: Any, width: int, height: int) -> np.ndarray:
    """A writable numpy view of one frame plane, cropped from its padded line size."""
    buf = np.frombuffer(plane, dtype=np.uint8)
    return buf.reshape(-1, plane.line_size)[:height, :width]


def rgb_image_to_yuv420(image: Image.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convert once with swscale (BT.601 limited range, what decoders assume for untagged yuv420p)."""
    frame = av.VideoFrame.from_image(image.convert("RGB")).reformat(format="yuv420p")
    y, u, v = yuv420_planes(frame)
    return y.copy(), u.copy(), v.copy()


def yuv420_planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Y, U and V planes of a yuv420p frame as (views of) numpy arrays."""
    w, h = frame.width, frame.height
    return (
        _plane_array(frame.planes[0], w, h),
        _plane_array(frame.planes[1], w // 2, h // 2),
        _plane_array(frame.planes[2], w // 2, h // 2),
    )


def _even(value: float) -> int:
    # Chroma is subsampled 2x2: keep every region on even coordinates so Y and UV line up.
    return int(value) // 2 * 2


def format_clock(wall_time: float) -> str:
    """Local wall-clock time as HH:MM:SS.mmm."""
    seconds = math.floor(wall_time)
    millis = min(999, int((wall_time - seconds) * 1000))
    return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{millis:03d}"


def _layout(width: int, height: int) -> dict[str, int]:
    """Rows of the bars picture, top to bottom (even pixel positions)."""
    w, h = width, height
    return {
        "bars_bottom": _even(h * 0.38),
        "noise_top": _even(h * 0.38),
        "noise_bottom": _even(h * 0.48),
        "label_top": _even(h * 0.48),
        "label_bottom": _even(h * 0.68),
        "track_top": _even(h * 0.70),
        "track_bottom": _even(h * 0.78),
        "clock_top": _even(h * 0.80),
        "clock_bottom": _even(h * 0.92),
        "counter_top": _even(h * 0.94),
        "counter_bottom": _even(h * 0.98),
        "margin": _even(w * 0.03),
    }


def counter_geometry(width: int, height: int) -> tuple[int, int, int]:
    """(x, y, square size) of the frame-counter squares of a ``width``x``height`` bars picture."""
    lay = _layout(width, height)
    row_h = lay["counter_bottom"] - lay["counter_top"]
    square = max(2, min(row_h, _even((width - 2 * lay["margin"]) / COUNTER_BITS)))
    return _even((width - COUNTER_BITS * square) / 2), lay["counter_top"], square


class TestPattern:
    """Produces the studio's video frames cheaply.

    Everything static (bars, label, boxes) is rendered once with Pillow and converted to YUV
    once; per frame we copy the three planes, slide a white block by slicing, and paste
    pre-rendered clock glyphs and counter squares into the luma plane.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, pattern: str, label: str, width: int, height: int, fps: int) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"width and height must be even for yuv420p, got {width}x{height}")
        if pattern != PATTERN_BARS and pattern not in SOLID_COLOURS:
            raise ValueError(f"unknown pattern {pattern!r}: use 'bars' or one of {sorted(SOLID_COLOURS)}")
        self.pattern = pattern
        self.label = label
        self.width = width
        self.height = height
        self.fps = fps
        if pattern == PATTERN_BARS:
            self._background = rgb_image_to_yuv420(self._bars_image())
            self._prepare_dynamic_layers()
        else:
            self._background = rgb_image_to_yuv420(Image.new("RGB", (width, height), SOLID_COLOURS[pattern]))

    # -- static layers -------------------------------------------------------------------------------
    def _bars_image(self) -> Image.Image:
        w, h = self.width, self.height
        lay = _layout(w, h)
        image = Image.new("RGB", (w, h), (16, 16, 16))
        draw = ImageDraw.Draw(image)
        bar_w = w / len(BAR_COLOURS)
        for i, colour in enumerate(BAR_COLOURS):
            draw.rectangle((round(i * bar_w), 0, round((i + 1) * bar_w) - 1, lay["bars_bottom"] - 1), fill=colour)
        # Under the noise strip: neutral grey, so only luma changes there.
        draw.rectangle((0, lay["noise_top"], w - 1, lay["noise_bottom"] - 1), fill=(128, 128, 128))
        # The track of the moving block: mid grey so the block's motion is obvious.
        draw.rectangle((0, lay["track_top"], w - 1, lay["track_bottom"] - 1), fill=(64, 64, 64))
        # Black (luma 16) under the clock glyphs, which are pre-blended onto black.
        draw.rectangle((0, lay["clock_top"], w - 1, lay["clock_bottom"] - 1), fill=(0, 0, 0))
        # Label, shrunk until it fits the band.
        band_h = lay["label_bottom"] - lay["label_top"]
        size = max(8, int(band_h * 0.7))
        text = render_text(self.label, size)
        while text.width > w - 2 * lay["margin"] and size > 8:
            size = int(size * 0.85)
            text = render_text(self.label, size)
        x = (w - text.width) // 2
        y = lay["label_top"] + (band_h - text.height) // 2
        image.paste((255, 255, 255), (x, y), text)
        return image

    def _prepare_dynamic_layers(self) -> None:
        lay = _layout(self.width, self.height)
        clock_h = lay["clock_bottom"] - lay["clock_top"]
        chars = len(format_clock(0.0) + " #0000000")
        size = max(8, int(clock_h * 0.7))
        font = load_font(size, CLOCK_FONTS)
        # Shrunk until the line fits the width: a portrait (9:16) picture is narrow for its height,
        # and a glyph past the right edge broke every frame ("could not broadcast ... (102,64) into (102,16)").
        while round(font.getlength("0")) * chars > self.width - 2 * lay["margin"] and size > 8:
            size = max(8, int(size * 0.9))
            font = load_font(size, CLOCK_FONTS)
        # Monospace: one cell size for every glyph, so pasting is plain slicing.
        cell_w = max(1, round(font.getlength("0")))
        cell_h = _even(font.getbbox(CLOCK_CHARS)[3] + 2)  # down to the lowest ink of any glyph
        self._glyphs: dict[str, np.ndarray] = {}
        for ch in CLOCK_CHARS:
            cell = Image.new("L", (cell_w, cell_h), 0)
            ImageDraw.Draw(cell).text((0, 0), ch, fill=255, font=font)
            # Coverage 0..255 -> luma 16..235 over the black clock box.
            self._glyphs[ch] = (16 + np.asarray(cell, dtype=np.uint16) * 219 // 255).astype(np.uint8)
        self._cell_w = cell_w
        text_w = cell_w * chars
        self._clock_y = lay["clock_top"] + (clock_h - cell_h) // 2
        self._clock_x = max(0, (self.width - text_w) // 2)
        # Counter squares: a centred row of their own below the clock.
        self._counter_x, self._counter_y, self._square = counter_geometry(self.width, self.height)
        self._track = (lay["track_top"], lay["track_bottom"])
        # Changing grain keeps x264 near its ~2.5 Mbit/s target like a real camera (a clean
        # pattern would code at ~0.7 Mbit/s and understate the server's receive/decode cost).
        rng = np.random.default_rng(20250510)
        self._noise_rows = (lay["noise_top"], lay["noise_bottom"])
        rows = lay["noise_bottom"] - lay["noise_top"]
        self._noise = [rng.integers(16, 236, (rows, self.width), dtype=np.uint8) for _ in range(NOISE_TILES)]
        self._block_w = max(2, _even(self.width / 20))
        # The block crosses the frame in two seconds.
        self._block_step = max(2.0, (self.width - self._block_w) / (2.0 * self.fps))

    # -- per frame -----------------------------------------------------------------------------------
    def frame(self, index: int, wall_time: float | None = None) -> av.VideoFrame:
        """Frame number ``index``; the clock shows ``wall_time`` (default: now)."""
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        y, u, v = yuv420_planes(frame)
        by, bu, bv = self._background
        np.copyto(y, by)
        np.copyto(u, bu)
        np.copyto(v, bv)
        if self.pattern == PATTERN_BARS:
            self._draw_dynamic(y, u, v, index, time.time() if wall_time is None else wall_time)
        return frame

    def _draw_dynamic(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, index: int, wall_time: float) -> None:
        n0, n1 = self._noise_rows
        y[n0:n1] = self._noise[index % NOISE_TILES]
        # Moving white block, bouncing so it never jumps.
        span = self.width - self._block_w
        travel = int(index * self._block_step) % (2 * span) if span > 0 else 0
        x = _even(travel if travel <= span else 2 * span - travel)
        top, bottom = self._track
        y[top:bottom, x : x + self._block_w] = 235
        u[top // 2 : bottom // 2, x // 2 : (x + self._block_w) // 2] = 128
        v[top // 2 : bottom // 2, x // 2 : (x + self._block_w) // 2] = 128
        # Clock and frame counter text from the glyph atlas (box is black in the background).
        text = f"{format_clock(wall_time)} #{index % 10_000_000:07d}"
        cy, cx, cw = self._clock_y, self._clock_x, self._cell_w
        for ch in text:
            glyph = self._glyphs[ch]
            y[cy : cy + glyph.shape[0], cx : cx + cw] = glyph
            cx += cw
        # Frame counter as squares, most significant bit first.
        s, sy, sx = self._square, self._counter_y, self._counter_x
        for bit in range(COUNTER_BITS):
            on = (index >> (COUNTER_BITS - 1 - bit)) & 1
            y[sy : sy + s, sx + bit * s : sx + (bit + 1) * s] = 235 if on else 16


def read_frame_counter(luma: np.ndarray, width: int, height: int) -> int:
    """Read back the frame index from the luma plane of a decoded full-frame ``bars`` picture.

    ``width``x``height`` is the size the studio sent; ``luma`` may have been scaled since.
    """
    x0, y0, s = counter_geometry(width, height)
    sy, sx = luma.shape[0] / height, luma.shape[1] / width
    cy = int((y0 + s / 2) * sy)
    value = 0
    for bit in range(COUNTER_BITS):
        cx = int((x0 + bit * s + s / 2) * sx)
        value = (value << 1) | int(luma[cy, cx] > 128)
    return value
