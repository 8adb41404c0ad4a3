"""Switching end to end: aiortc studios publish solid colours and tones, the crew API
takes, fades, changes layouts, panics; a studio freezes. The program is read as a CDN
would (HTTP-FLV), decoded, and checked picture by picture."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from mixer.layout import boxes
from tests.conftest import Server, make_config, serve
from tests.flashbeep import Gate, TrackPublisher
from tests.flvpull import FlvPull
from tests.mediacheck import assert_continuous, decode, live_from, without_cue_points
from tests.whipclient import AiortcPublisher, ColourTrack, ToneTrack

W, H = 640, 360
API = "/api/shows/test-show"
PIP = boxes("pip", W, H, "top-left")[1]
POINTS = {
    "centre": (W // 2, H // 2),
    "inset": (PIP.x + PIP.w // 2, PIP.y + PIP.h // 2),
    "left": (W // 4, H // 2),
    "right": (3 * W // 4, H // 2),
    "corner": (40, 40),  # plain slate background, away from its text
}


def name(y: float, u: float, v: float) -> str:
    if v > 200 and u < 120:
        return "red"
    if v < 70 and u < 80 and y > 100:
        return "green"
    if u > 135 and y < 60 and 100 < v < 135:
        return "slate"
    return "other"


@dataclass
class Shot:
    t: float
    yuv: dict[str, tuple[float, float, float]]

    def __getitem__(self, point: str) -> str:
        return name(*self.yuv[point])


@dataclass
class Program:
    shots: list[Shot] = field(default_factory=list)
    audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # mono, int16 scale
    audio_start: float = 0.0
    keyframes: list[int] = field(default_factory=list)  # indexes into shots

    def after_cached_gop(self) -> Program:
        """The shots the HTTP-FLV read got live: from its second keyframe on (``live_from`` in
        tests/mediacheck.py says why); the audio stays whole (``audio_between`` goes by time)."""
        start = live_from(self.keyframes)
        keyframes = [k - start for k in self.keyframes if k >= start]
        return Program(self.shots[start:], self.audio, self.audio_start, keyframes)

    def audio_between(self, t0: float, t1: float) -> np.ndarray:
        a, b = (int((t - self.audio_start) * 48000) for t in (t0, t1))
        return self.audio[max(0, a) : max(0, b)]


def decode_program(data: bytes) -> Program:
    out = Program()
    chunks: list[np.ndarray] = []
    container = av.open(io.BytesIO(without_cue_points(data)), format="flv")
    for frame in container.decode(container.streams.video[0], container.streams.audio[0]):
        assert frame.pts is not None and frame.time_base is not None
        t = float(frame.pts * Fraction(frame.time_base))
        if isinstance(frame, av.VideoFrame):
            if frame.key_frame:
                out.keyframes.append(len(out.shots))
            planes = frame.to_ndarray(format="yuv420p")
            u = planes[H : H + H // 4].reshape(H // 2, W // 2)
            v = planes[H + H // 4 :].reshape(H // 2, W // 2)
            yuv = {}
            for point, (x, y) in POINTS.items():
                yuv[point] = (
                    float(planes[y - 6 : y + 6, x - 6 : x + 6].mean()),
                    float(u[y // 2 - 3 : y // 2 + 3, x // 2 - 3 : x // 2 + 3].mean()),
                    float(v[y // 2 - 3 : y // 2 + 3, x // 2 - 3 : x // 2 + 3].mean()),
                )
            out.shots.append(Shot(t, yuv))
        else:
            if not chunks:
                out.audio_start = t
            samples = frame.to_ndarray()  # fltp: (channels, n)
            chunks.append(samples[0] * 32768)
    container.close()
    out.audio = np.concatenate(chunks) if chunks else out.audio
    return out


def runs(values: list[str]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for value in values:
        if out and out[-1][0] == value:
            out[-1] = (value, out[-1][1] + 1)
        else:
            out.append((value, 1))
    return out


def longest(shots: list[Shot], predicate: Callable[[Shot], bool]) -> list[Shot]:
    """The longest run of consecutive shots matching ``predicate``."""
    best: list[Shot] = []
    current: list[Shot] = []
    for shot in shots:
        current = [*current, shot] if predicate(shot) else []
        if len(current) > len(best):
            best = current
    return best


async def _wait_frames(server: Server, studios: tuple[str, ...]) -> None:
    def ready(state: dict[str, Any]) -> bool:
        stats = {s["id"]: s["stats"] or {} for s in state["studios"]}
        return all(stats[s].get("video_frames", 0) > 30 for s in studios)

    await server.wait_for(ready, timeout=20)


async def test_take_fade_layouts_and_panic(server: Server) -> None:
    alpha = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "red", hz=440)
    bravo = AiortcPublisher(server.url, "test-show", "bravo", server.token("bravo"), "green", hz=1000)
    try:
        await alpha.start()
        await bravo.start()
        await _wait_frames(server, ("alpha", "bravo"))
        await server.api("POST", f"{API}/cut", json={"studio": "alpha"})
        await server.api("POST", f"{API}/preview", json={"studio": "bravo"})
        # Until the steps are done: a fixed length raced them on a loaded box.
        recording = FlvPull(f"{server.url}/live/test-show.flv").start()
        await asyncio.sleep(2.0)
        status, body = await server.api("POST", f"{API}/take", json={"transition": "fade", "duration_ms": 1000})
        assert status == 200 and (body["program"], body["preview"]) == ("bravo", "alpha")
        await asyncio.sleep(2.5)
        # Layouts are built on preview and taken to air.
        await server.api(
            "POST", f"{API}/layout", json={"layout": "pip", "studios": ["bravo", "alpha"], "corner": "top-left"}
        )
        await server.api("POST", f"{API}/take", json={})
        await asyncio.sleep(2.0)
        await server.api("POST", f"{API}/layout", json={"layout": "side-by-side", "studios": ["alpha", "bravo"]})
        await server.api("POST", f"{API}/take", json={})
        await asyncio.sleep(2.0)
        await server.api("POST", f"{API}/panic")
        await asyncio.sleep(1.5)
        await server.api("POST", f"{API}/unpanic")
        await asyncio.sleep(1.5)  # side by side again
        flv = await recording.stop()
    finally:
        await alpha.stop()
        await bravo.stop()
    # Late ticks are a machine-load figure (bench/program_load.py); here the output must be continuous.
    got = await asyncio.to_thread(decode_program, flv)
    assert_continuous(await asyncio.to_thread(decode, flv, "flv"), 30)
    centre = [s["centre"] for s in got.shots]

    # The fade: red, then ~30 frames with V falling from red's to green's, then green.
    first_green = centre.index("green")
    last_red = max(i for i in range(first_green) if centre[i] == "red")
    v = [s.yuv["centre"][2] for s in got.shots[last_red - 5 : first_green + 40]]
    red_v, green_v = float(np.median(v[:5])), float(np.median(v[-10:]))
    blend = [x for x in v if green_v + 6 < x < red_v - 6]
    assert 26 <= len(blend) <= 31, (len(blend), [round(x) for x in v])
    assert all(b <= a + 3 for a, b in zip(blend, blend[1:], strict=False)), blend  # monotonic, within coding noise
    assert any(abs(x - (red_v + green_v) / 2) < 10 for x in blend), blend  # a real mid-blend frame

    # Picture in picture: green main, red inset top left; then side by side: red left, green right.
    pip = [s for s in got.shots if s["centre"] == "green" and s["inset"] == "red"]
    sbs = [s for s in got.shots if s["left"] == "red" and s["right"] == "green"]
    assert len(pip) >= 45 and len(sbs) >= 45, (len(pip), len(sbs))
    # Panic: the slate (no studio anywhere) and silence.
    slate = longest(got.shots, lambda s: s["corner"] == "slate" and s["left"] != "red" and s["right"] != "green")
    assert len(slate) >= 30, len(slate)
    quiet = got.audio_between(slate[3].t, slate[-3].t)
    assert len(quiet) and np.abs(quiet).max() < 100
    # Audio followed the layouts: both tones during side by side (louder than one alone).
    assert np.abs(got.audio_between(sbs[5].t, sbs[25].t)).max() > 11000
    # Unpanic: back to side by side.
    assert got.shots[-1]["left"] == "red" and got.shots[-1]["right"] == "green"


@pytest.fixture
async def backup_server(tmp_path: Path, aiohttp_server: Any) -> Server:
    config = make_config(tmp_path, backup_studio="bravo", fallback_after=1.0, fallback_policy="manual")
    return await serve(aiohttp_server, config)


async def test_fallback_to_backup_then_slate_and_no_return_by_itself(backup_server: Server) -> None:
    server = backup_server
    gates = [Gate(ColourTrack("red")), Gate(ToneTrack(440))]
    alpha = TrackPublisher(server.url, "test-show", "alpha", server.token("alpha"), *gates)
    bravo_gates = [Gate(ColourTrack("green")), Gate(ToneTrack(1000))]
    bravo = TrackPublisher(server.url, "test-show", "bravo", server.token("bravo"), *bravo_gates)
    alpha2: AiortcPublisher | None = None
    try:
        await alpha.start()
        await bravo.start()
        await _wait_frames(server, ("alpha", "bravo"))
        await server.api("POST", f"{API}/cut", json={"studio": "alpha"})
        # Until the steps are done: a fixed length raced them on a loaded box.
        recording = FlvPull(f"{server.url}/live/test-show.flv").start()
        await asyncio.sleep(1.5)
        for gate in gates:  # alpha's camera and network freeze: no DELETE, no new frames
            gate.close_gate()
        state = await server.wait_for(lambda s: s["program"] == "bravo", timeout=15)
        assert state["on_air"] == "bravo"
        await asyncio.sleep(1.5)
        for gate in bravo_gates:  # the backup fails too: the slate
            gate.close_gate()
        await server.wait_for(lambda s: s["program"] is None and s["on_air"] is None, timeout=15)
        # alpha comes back (a new session): the program stays on the slate until an operator acts.
        alpha2 = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "red")
        await alpha2.start()
        await asyncio.sleep(2.5)
        _, state = await server.api("GET", API)
        assert state["on_air"] is None and state["program"] is None
        await server.api("POST", f"{API}/cut", json={"studio": "alpha"})
        await asyncio.sleep(1.5)  # alpha on air again
        flv = await recording.stop()
        _, events = await server.api("GET", f"{API}/events")
    finally:
        await alpha.stop()
        await bravo.stop()
        if alpha2 is not None:
            await alpha2.stop()
    fallbacks = [e["detail"] for e in events["events"] if e["kind"] == "program.fallback"]
    assert fallbacks == [
        {"from": "alpha", "to": "bravo", "policy": "manual"},
        {"from": "bravo", "to": None, "policy": "manual"},
    ]
    got = await asyncio.to_thread(decode_program, flv)
    # What came live: the reader may open on the GOP cached before the cut (the slate).
    live = got.after_cached_gop()
    seen = [c for c, n in runs([s["centre"] if s["corner"] != "slate" else "slate" for s in live.shots]) if n >= 10]
    assert seen[:3] == ["red", "green", "slate"], runs([s["centre"] for s in got.shots])
    assert seen[-1] == "red"
    # The freeze showed for at most fallback_after (+ a frame or two) before the backup.
    frozen_red = [n for c, n in runs([s["centre"] for s in live.shots]) if c == "red"][0]
    assert frozen_red <= 1.5 * 30 + 1.2 * 30 + 4, frozen_red
