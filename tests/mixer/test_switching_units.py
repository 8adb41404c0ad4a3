"""The compositor, layouts, transitions and the clock's switching rules, on numpy planes.

No network and no encode: real av.VideoFrames go through the real scalers, and
the program clock's ticks are driven by hand (the encoder is replaced by a list).
"""

from __future__ import annotations

import time
from typing import Any

import av
import numpy as np
import pytest

from mixer.compositor import Compositor
from mixer.encodedpacket import ProgramFormat
from mixer.feedbuffer import FeedBuffer
from mixer.layout import boxes
from mixer.planes import packed_planes, rgb_to_yuv
from mixer.program import Program
from mixer.scene import Bus, Scene
from mixer.transition import Blender

W, H = 640, 360
RGB = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "white": (255, 255, 255)}
YUV = {name: rgb_to_yuv(rgb) for name, rgb in RGB.items()}


def solid(colour: str, w: int = W, h: int = H) -> av.VideoFrame:
    rgb = np.full((h, w, 3), RGB[colour], dtype=np.uint8)
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")


def yuv_at(picture: np.ndarray, x: int, y: int, r: int = 4) -> tuple[float, float, float]:
    """Mean Y, U, V of a small square around luma position (x, y)."""
    py, pu, pv = packed_planes(picture)
    cx, cy = x // 2, y // 2
    return (
        float(py[y - r : y + r, x - r : x + r].mean()),
        float(pu[cy - r // 2 : cy + r // 2, cx - r // 2 : cx + r // 2].mean()),
        float(pv[cy - r // 2 : cy + r // 2, cx - r // 2 : cx + r // 2].mean()),
    )


def colour_at(picture: np.ndarray, x: int, y: int) -> str:
    got = yuv_at(picture, x, y)
    for name, want in YUV.items():
        if all(abs(g - w) <= 6 for g, w in zip(got, want, strict=True)):
            return name
    return f"other{tuple(round(v) for v in got)}"


# -- layouts and fit modes -------------------------------------------------------------------------


@pytest.mark.parametrize("width,height", [(1280, 720), (720, 1280), (640, 360)])
@pytest.mark.parametrize("layout", ["single", "pip", "side-by-side"])
def test_layout_boxes_are_even_and_inside(layout: str, width: int, height: int) -> None:
    for corner in ("top-left", "top-right", "bottom-left", "bottom-right"):
        for box in boxes(layout, width, height, corner):
            assert all(v % 2 == 0 for v in (box.x, box.y, box.w, box.h)), box
            assert box.x >= 0 and box.y >= 0
            assert box.x + box.w <= width and box.y + box.h <= height


def test_side_by_side_is_stacked_in_portrait() -> None:
    left, right = boxes("side-by-side", 1280, 720)
    assert (left.x, left.w, right.x, right.w) == (0, 640, 640, 640)
    top, bottom = boxes("side-by-side", 720, 1280)
    assert (top.y, top.h, bottom.y, bottom.h, top.w) == (0, 640, 640, 640, 720)


def test_fit_crop_and_blur_of_a_4_3_source_in_16_9() -> None:
    src = {"a": (solid("red", 480, 360), 1)}
    fit = Compositor(W, H, "t", "s")
    fit.configure("fit", (0, 0, 255))
    pic = fit.compose(Bus("single", ("a",)), src)
    assert colour_at(pic, W // 2, H // 2) == "red"
    assert colour_at(pic, 20, H // 2) == "blue" and colour_at(pic, W - 20, H // 2) == "blue"  # coloured sides
    crop = Compositor(W, H, "t", "s")
    crop.configure("crop", (0, 0, 255))
    pic = crop.compose(Bus("single", ("a",)), src)
    assert colour_at(pic, 4, 4) == "red" and colour_at(pic, W - 6, H - 6) == "red"  # filled, cropped
    blur = Compositor(W, H, "t", "s")
    blur.configure("blur", (0, 0, 255))
    pic = blur.compose(Bus("single", ("a",)), src)
    assert colour_at(pic, W // 2, H // 2) == "red"
    y, u, v = yuv_at(pic, 20, H // 2)
    assert v > 200 and y < YUV["red"][0]  # the sides: the picture's own colour, dimmed


def test_portrait_canvas_fits_and_crops_a_landscape_studio() -> None:
    src = {"a": (solid("green", 640, 360), 1)}
    comp = Compositor(360, 640, "t", "s")
    pic = comp.compose(Bus("single", ("a",)), src)
    assert pic.shape == (960, 360)
    assert colour_at(pic, 180, 320) == "green" and yuv_at(pic, 180, 20)[0] < 20  # letterboxed, black
    comp.configure("crop", (0, 0, 0))
    pic = comp.compose(Bus("single", ("a",)), src)
    assert colour_at(pic, 180, 20) == "green" and colour_at(pic, 180, 620) == "green"


@pytest.mark.parametrize("corner", ["top-left", "top-right", "bottom-left", "bottom-right"])
def test_pip_puts_the_second_studio_in_the_corner(corner: str) -> None:
    comp = Compositor(W, H, "t", "s")
    src = {"a": (solid("red"), 1), "b": (solid("green"), 2)}
    pic = comp.compose(Bus("pip", ("a", "b"), corner), src)
    inset = boxes("pip", W, H, corner)[1]
    assert colour_at(pic, inset.x + inset.w // 2, inset.y + inset.h // 2) == "green"
    assert colour_at(pic, W // 2, H // 2) == "red"
    other_x = W - inset.x - inset.w // 2  # the opposite corner
    assert colour_at(pic, other_x, inset.y + inset.h // 2) == "red"


def test_side_by_side_and_a_missing_studio_shows_the_slate_in_its_half() -> None:
    comp = Compositor(W, H, "t", "s")
    pic = comp.compose(Bus("side-by-side", ("a", "b")), {"a": (solid("red"), 1), "b": (solid("green"), 2)})
    assert colour_at(pic, W // 4, H // 2) == "red" and colour_at(pic, 3 * W // 4, H // 2) == "green"
    assert colour_at(pic, W // 4, 20) != "red"  # 16:9 in a half box: fitted, sides above and below
    pic = comp.compose(Bus("side-by-side", ("a", "b")), {"a": (solid("red"), 3)})
    slate_y, slate_u, _ = yuv_at(pic, 3 * W // 4, 30)
    assert slate_u > 128 and slate_y < 60  # the slate's dark blue


# -- transitions -------------------------------------------------------------------------------------


def _pictures(*colours: str) -> list[np.ndarray]:
    comp = Compositor(W, H, "t", "s")
    return [comp.compose(Bus("single", (c,)), {c: (solid(c), i)}).copy() for i, c in enumerate(colours)]


def test_fade_is_a_rounded_integer_mix() -> None:
    red, green = _pictures("red", "green")
    out = np.empty_like(red)
    blender = Blender(W, H)
    blender.draw("fade", red, green, 0.5, out)
    want = [(r + g) / 2 for r, g in zip(YUV["red"], YUV["green"], strict=True)]
    assert all(abs(a - b) <= 1 for a, b in zip(yuv_at(out, W // 2, H // 2), want, strict=True))
    blender.draw("fade", red, green, 1.0, out)
    assert np.array_equal(out, green)


def test_wipe_and_slide_edges() -> None:
    red, green = _pictures("red", "green")
    out = np.empty_like(red)
    Blender(W, H).draw("wipe", red, green, 0.25, out)
    assert colour_at(out, W // 4 - 10, H // 2) == "green" and colour_at(out, W // 4 + 10, H // 2) == "red"
    Blender(W, H).draw("slide", red, green, 0.75, out)
    assert colour_at(out, W // 4 - 10, H // 2) == "red" and colour_at(out, W // 4 + 10, H // 2) == "green"


# -- the clock: driven tick by tick ------------------------------------------------------------------


class Clock:
    """A Program whose ticks we run by hand; the encoder is replaced by a list of outputs."""

    def __init__(self, **scene: Any) -> None:
        self.program = Program(ProgramFormat(W, H, 30), "t", "s")
        self.out: list[tuple[np.ndarray, np.ndarray]] = []
        self.program.encoder.submit = lambda tick, pic, samples, cues=None: self.out.append(
            (pic.copy(), samples.copy())
        )  # type: ignore[method-assign]
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.program.on_event = lambda kind, detail: self.events.append((kind, detail))
        self.feeds: dict[str, FeedBuffer] = {}
        self.frames: dict[str, av.VideoFrame] = {}
        self.hz: dict[str, float] = {}
        self.sent: dict[str, int] = {}
        self.scene = Scene(av_sync_ms=0, **scene)
        self.program.set_scene(self.scene)

    def studio(self, name: str, colour: str, hz: float) -> None:
        feed = self.feeds[name] = FeedBuffer(name)
        self.frames[name], self.hz[name], self.sent[name] = solid(colour), hz, 0
        self.program.attach_feed(feed)

    def set(self, **changes: Any) -> None:
        self.scene = Scene(**{**self.scene.__dict__, **changes})
        self.program.set_scene(self.scene)

    def tick(self, n: int = 1, silent: tuple[str, ...] = ()) -> None:
        for _ in range(n):
            for name, feed in self.feeds.items():
                if name in silent:
                    continue
                feed.push_video(self.frames[name].reformat())
                k = self.sent[name]
                t = (np.arange(1600) + k) / 48000
                tone = (np.sin(2 * np.pi * self.hz[name] * t) * 8000).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo")
                frame.sample_rate, frame.pts = 48000, k
                feed.push_audio(frame)
                self.sent[name] = k + 1600
            self.program._tick()

    def colours(self) -> list[str]:
        return [colour_at(pic, W // 2, H // 2) for pic, _ in self.out]

    def audio(self) -> np.ndarray:
        return np.concatenate([s for _, s in self.out])[:, 0].astype(np.int32)


def test_cut_shows_on_the_next_frame_and_audio_crossfades_without_a_click() -> None:
    clock = Clock(program="a")
    clock.studio("a", "red", 440)
    clock.studio("b", "green", 1000)
    clock.tick(10)
    clock.set(program="b", take_seq=1)
    clock.tick(5)
    assert clock.colours()[-6:] == ["red"] + ["green"] * 5
    audio = clock.audio()
    # A sine of amplitude 8000 moves at most 2*pi*f*A/fs per sample (1047 at 1 kHz, 461 at
    # 440 Hz); mid-crossfade both at 0.71 give ~1070. A hard cut would jump by up to 16000.
    assert np.abs(np.diff(audio[5 * 1600 :])).max() < 1500
    assert np.abs(audio[-1600:]).max() > 7000  # b is on air at full level


def test_fade_runs_over_its_frames_with_blended_colours() -> None:
    clock = Clock(program="a")
    clock.studio("a", "red", 440)
    clock.studio("b", "green", 1000)
    clock.tick(5)
    clock.set(program="b", take_seq=1, transition="fade", transition_ms=500)
    clock.tick(16)
    fade = clock.out[5:20]
    v = [yuv_at(pic, W // 2, H // 2)[2] for pic, _ in fade]
    assert all(b < a for a, b in zip(v, v[1:], strict=False)), v  # V falls from red's to green's
    assert YUV["green"][2] < v[6] < YUV["red"][2]
    assert clock.colours()[-2:] == ["green", "green"]
    assert np.abs(np.diff(clock.audio()[5 * 1600 :])).max() < 1500


def test_panic_then_fallback_is_latched_and_reported() -> None:
    clock = Clock(program="a", backup="b", stale_after=0.2, fallback_policy="manual")
    clock.studio("a", "red", 440)
    clock.studio("b", "green", 1000)
    clock.tick(5)
    clock.set(panic=True)
    clock.tick(2)
    assert clock.colours()[-2] != "red" and np.abs(clock.out[-1][1]).max() == 0  # slate, silent
    clock.set(panic=False)
    clock.tick(2)
    assert clock.colours()[-1] == "red"
    clock.tick(1, silent=("a",))
    time.sleep(0.25)  # a stops sending for longer than stale_after
    clock.tick(3, silent=("a",))
    assert clock.colours()[-1] == "green"
    assert clock.events == [("program.fallback", {"from": "a", "to": "b", "policy": "manual"})]
    clock.tick(3)  # a is back: the program stays on the backup until an operator acts
    assert clock.colours()[-1] == "green"
    clock.set(take_seq=1)  # the operator takes a again
    clock.tick(1)
    assert clock.colours()[-1] == "red"


def test_gain_mute_limiter_and_meters() -> None:
    clock = Clock(program="a", layout="side-by-side", layout_studios=("b",))
    clock.studio("a", "red", 440)
    clock.studio("b", "green", 1000)
    clock.tick(15)
    both = np.abs(clock.audio()[-1600:]).max()
    assert 12000 < both < 32767 * 0.98  # two tones summed, not clipped
    meters: Any = clock.program.audio.meters()
    assert -13.5 < meters["studios"]["a"]["peak_dbfs"] < -11.5  # 8000 / 32768
    clock.set(gains_db={"a": 12.0, "b": 12.0})
    clock.tick(30)
    loud = clock.audio()[-1600 * 10 :]
    assert np.abs(loud).max() <= 32767 * 0.98  # the limiter holds the ceiling
    assert clock.program.audio.meters()["program"]["limiter_db"] > 0  # type: ignore[index]
    clock.set(gains_db={"a": -20.0}, muted=frozenset({"b"}))
    clock.tick(10)
    assert np.abs(clock.audio()[-1600:]).max() < 1000  # a at -20 dB (800), b muted
