"""The program clock's fallback per studio: session swaps, the auto/manual policy, flapping,
audio-only and video-only studios. Ticks driven by hand on real frames (no network)."""

from __future__ import annotations

import time
from typing import Any

import av
import numpy as np

from mixer.fallback import Fallback
from mixer.feedbuffer import FeedBuffer
from mixer.planes import rgb_to_yuv
from mixer.studiocard import BACKGROUND, render_studio_card
from tests.mixer.test_switching_units import Clock, H, W, yuv_at


class Studios(Clock):
    """The hand-driven clock, run for seconds of real time, and studios whose session is replaced."""

    def run(self, seconds: float, silent: tuple[str, ...] = ()) -> None:
        """Ticks every ~30 ms for ``seconds`` of real time."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.tick(1, silent)
            time.sleep(0.03)
        self.tick(1, silent)  # one tick at least ``seconds`` after the start, however slow the machine

    def new_session(self, name: str) -> FeedBuffer:
        """The studio's new WHIP session: a new feed; the old one is cleared as its session closes."""
        old, new = self.feeds[name], FeedBuffer(name)
        self.program.attach_feed(new)
        old.clear()
        self.feeds[name] = new
        return new

    def kinds_of_events(self) -> list[str]:
        return [kind for kind, _ in self.events]


def _red_on_air(**options: Any) -> Studios:
    """Studio ``a`` (red, a 440 Hz tone) on air for five ticks; ``options``: the program's (fallback)."""
    clock = Studios(program="a", **options)
    clock.studio("a", "red", 440)
    clock.tick(5)
    return clock


def test_a_new_session_within_stale_after_never_falls_back() -> None:
    clock = Studios(program="a", backup="b", stale_after=1.0)
    clock.studio("a", "red", 440)
    clock.studio("b", "green", 1000)
    clock.tick(10)
    clock.new_session("a")  # an encoder restart: nothing from the new session for 0.3 s
    clock.run(0.3, silent=("a",))
    clock.frames["a"] = av.VideoFrame.from_ndarray(np.full((H, W, 3), (0, 0, 255), np.uint8), format="rgb24").reformat(
        format="yuv420p"
    )
    clock.run(0.3)
    colours = clock.colours()
    assert set(colours[:10]) == {"red"} and colours[-1] == "blue", colours
    # The last good frame held through the gap, then the new session's picture: no backup, no slate.
    assert set(colours) == {"red", "blue"}, colours
    assert clock.events == [] and clock.program.on_air == "a" and clock.program.fallback is None


def test_a_session_that_ends_then_rejoins_in_time_never_falls_back_but_one_that_does_not_does() -> None:
    clock = _red_on_air(stale_after=0.6, fallback_policy="manual")
    # A page reload: the old page DELETEs its session, the new page POSTs 0.3 s later.
    clock.program.detach_feed("a")
    clock.feeds["a"].clear()
    del clock.feeds["a"]
    clock.run(0.3)
    clock.feeds["a"] = FeedBuffer("a")
    clock.program.attach_feed(clock.feeds["a"])
    clock.run(0.3)
    assert set(clock.colours()) == {"red"} and clock.events == []
    # It leaves for good: the last frame holds for stale_after, then the fallback.
    clock.program.detach_feed("a")
    del clock.feeds["a"]
    clock.run(0.9)
    assert clock.kinds_of_events() == ["program.fallback"]
    assert clock.colours()[-1] != "red" and clock.program.on_air is None


def test_auto_returns_once_the_studio_is_steady_and_reports_it() -> None:
    clock = Studios(program="a", backup="b", stale_after=0.2, fallback_policy="auto", return_after=0.4)
    clock.studio("a", "red", 440)
    clock.studio("b", "green", 1000)
    clock.tick(5)
    clock.run(0.35, silent=("a",))
    assert clock.colours()[-1] == "green" and clock.program.on_air == "b"
    assert clock.events == [("program.fallback", {"from": "a", "to": "b", "policy": "auto", "returns_after_s": 0.4})]
    view = clock.program.fallback
    assert view is not None and view["policy"] == "auto" and not view["latched"]
    back = time.monotonic()
    while clock.colours()[-1] != "red" and time.monotonic() - back < 5:
        clock.tick(1)
        time.sleep(0.03)
    waited = time.monotonic() - back
    assert clock.colours()[-1] == "red", "auto policy never returned"
    assert waited >= 0.4, waited  # not before it was steady for return_after
    kind, detail = clock.events[-1]
    assert kind == "program.returned" and detail["studio"] == "a" and detail["from"] == "b"
    assert detail["reason"] == "steady for 0.4 s"
    assert clock.program.fallback is None and clock.program.on_air == "a"


def test_auto_return_waits_for_steady_delivery_not_a_burst() -> None:
    clock = _red_on_air(stale_after=0.3, fallback_policy="auto", return_after=0.5)
    clock.run(0.45, silent=("a",))
    assert clock.kinds_of_events() == ["program.fallback"]
    # The studio stutters: frames with gaps over the steady gap (0.3 s here) never add up.
    for _ in range(4):
        clock.tick(2)
        clock.run(0.35, silent=("a",))
    assert clock.kinds_of_events() == ["program.fallback"] and clock.program.on_air is None


def test_flapping_doubles_the_steady_time_needed() -> None:
    fallback = Fallback(lambda kind, detail: None)
    t = 1000.0
    assert fallback.required("a", 2.0, t) == 2.0
    for _ in range(3):
        fallback._returns.setdefault("a", __import__("collections").deque()).append(t)
    assert fallback.required("a", 2.0, t + 1) == 16.0
    assert fallback.required("a", 8.0, t + 1) == 30.0  # capped
    assert fallback.required("b", 2.0, t + 1) == 2.0  # per studio
    assert fallback.required("a", 2.0, t + 61) == 2.0  # a minute later: forgotten


def test_flapping_studio_on_the_clock() -> None:
    clock = _red_on_air(stale_after=0.2, fallback_policy="auto", return_after=0.2)
    needs = []
    for _ in range(3):
        clock.run(0.3, silent=("a",))  # out
        needs.append(clock.events[-1][1]["returns_after_s"])
        back = time.monotonic()
        while clock.program.on_air != "a" and time.monotonic() - back < 5:
            clock.tick(1)
            time.sleep(0.03)
        assert clock.program.on_air == "a"
        assert time.monotonic() - back >= needs[-1]
    assert needs == [0.2, 0.4, 0.8]
    assert clock.kinds_of_events() == ["program.fallback", "program.returned"] * 3


def test_manual_stays_on_the_backup() -> None:
    clock = Studios(program="a", backup="b", stale_after=0.2, fallback_policy="manual")
    clock.studio("a", "red", 440)
    clock.studio("b", "green", 1000)
    clock.tick(5)
    clock.run(0.3, silent=("a",))
    clock.run(1.0)  # a is back and steady
    assert clock.colours()[-1] == "green"
    assert clock.events == [("program.fallback", {"from": "a", "to": "b", "policy": "manual"})]
    assert clock.program.fallback == {"from": "a", "to": "b", "latched": True, "policy": "manual"}


def test_an_audio_only_studio_goes_on_air_with_its_card_and_its_sound() -> None:
    clock = Studios(program="p", stale_after=0.3, fallback_policy="manual")
    clock.studio("p", "red", 440, kinds=("audio",))
    card = render_studio_card(W, H, "电话 Phone-in", "Wuhan")
    clock.program.attach_feed(clock.feeds["p"], card)
    clock.tick(20)
    pic, _ = clock.out[-1]
    y, u, v = yuv_at(pic, 20, 20)
    want = rgb_to_yuv(BACKGROUND)
    assert all(abs(a - b) <= 3 for a, b in zip((y, u, v), want, strict=True)), ((y, u, v), want)
    assert clock.program.on_air == "p" and clock.program.fallback is None
    assert np.abs(clock.audio()[-1600 * 5 :]).max() > 7000  # its tone, at full level
    # Its sound stops (the call dropped): that is a real fallback.
    clock.run(0.5, silent=("p",))
    assert clock.kinds_of_events() == ["program.fallback"]
    assert clock.program.on_air is None


def test_a_video_only_studio_goes_on_air_silent() -> None:
    clock = Studios(program="v", stale_after=0.3)
    clock.studio("v", "red", 440, kinds=("video",))
    clock.tick(20)
    assert clock.colours()[-1] == "red" and clock.program.on_air == "v"
    assert np.abs(clock.audio()).max() == 0 and clock.events == []


def test_the_studio_card_draws_the_photo_or_the_initial(tmp_path: object) -> None:
    from pathlib import Path

    from PIL import Image

    photo = Path(str(tmp_path)) / "face.png"
    Image.new("RGB", (300, 200), (0, 200, 0)).save(photo)
    with_photo = render_studio_card(W, H, "香港 Bravo", "Hong Kong", str(photo)).to_ndarray()
    cx, cy = W // 2, int(H * 0.36)
    assert all(abs(a - b) <= 4 for a, b in zip(yuv_at(with_photo, cx, cy), rgb_to_yuv((0, 200, 0)), strict=True))
    missing = render_studio_card(W, H, "香港 Bravo", "Hong Kong", str(photo) + ".gone").to_ndarray()  # drawn anyway
    y, _, _ = yuv_at(missing, cx - 30, cy)  # the accent circle beside the initial
    assert abs(y - rgb_to_yuv((232, 150, 40))[0]) <= 4
    assert with_photo.shape == (H * 3 // 2, W)


def test_switching_to_manual_during_an_auto_fallback_stops_the_return() -> None:
    clock = _red_on_air(stale_after=0.2, fallback_policy="auto", return_after=0.2)
    clock.run(0.3, silent=("a",))
    assert clock.kinds_of_events() == ["program.fallback"]
    clock.set(fallback_policy="manual")  # the crew: "we decide"
    clock.run(0.8)  # a is back and steady for four times return_after
    assert clock.program.on_air is None and clock.kinds_of_events() == ["program.fallback"]
    view = clock.program.fallback
    assert view is not None and view["policy"] == "manual" and view["latched"]


def test_an_audio_only_studio_in_a_pip_inset_shows_its_card_in_the_box() -> None:
    from mixer.layout import boxes

    clock = Studios(program="v", layout="pip", layout_studios=("p",), corner="top-left", stale_after=0.5)
    clock.studio("v", "red", 440, kinds=("video",))
    clock.studio("p", "green", 1000, kinds=("audio",))
    clock.program.attach_feed(clock.feeds["p"], render_studio_card(W, H, "电话 Phone-in", "Wuhan"))
    clock.tick(15)
    pic, samples = clock.out[-1]
    inset = boxes("pip", W, H, "top-left")[1]
    y, u, v = yuv_at(pic, inset.x + 6, inset.y + 6)
    want = rgb_to_yuv(BACKGROUND)
    assert all(abs(a - b) <= 4 for a, b in zip((y, u, v), want, strict=True)), ((y, u, v), want)
    assert clock.colours()[-1] == "red"  # the main picture
    assert np.abs(samples[:, 0]).max() > 5000  # the phone-in guest is heard
