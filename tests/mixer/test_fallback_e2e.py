"""Fallback with real peers: a studio on air replacing its session (encoder restart, page
reload), the auto policy returning after an outage (and backing off when it flaps), and
audio-only and video-only studios on air. aiortc publishers make their own pictures and
tones; the program is read as a CDN would (HTTP-FLV) and decoded."""

from __future__ import annotations

import asyncio
import contextlib
import io
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamTrack

from mixer.planes import rgb_to_yuv
from mixer.studiocard import BACKGROUND
from orchestrator.app import create_app
from rooms.syntheticstudio import spawn_studio
from tests.conftest import Server, make_config
from tests.flvpull import FlvPull
from tests.mediacheck import assert_continuous, decode
from tests.mixer.test_switching_e2e import API, decode_program, longest, runs
from tests.whipclient import ColourTrack, ToneTrack, TrackPublisher


class Outage(MediaStreamTrack):
    """Another track's frames, dropped while the network is "down" (the source keeps its pace)."""

    def __init__(self, inner: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = inner.kind
        self.inner = inner
        self.down = False

    async def recv(self) -> av.frame.Frame:
        while True:
            frame = await self.inner.recv()
            if not self.down:
                return frame


def publisher(server: Server, studio: str, *tracks: MediaStreamTrack) -> TrackPublisher:
    return TrackPublisher(server.url, "test-show", studio, server.token(studio), *tracks)


async def start_server(tmp_path: Path, aiohttp_server: Any, **show: Any) -> Server:
    config = make_config(tmp_path, **show)
    srv = await aiohttp_server(create_app(config), host="127.0.0.1")
    return Server.of(srv, config)


async def frames_of(server: Server, studio: str, kind: str = "video", at_least: int = 30) -> None:
    def ready(state: dict[str, Any]) -> bool:
        stats = {s["id"]: s["stats"] or {} for s in state["studios"]}
        return stats[studio].get(f"{kind}_frames", 0) > at_least

    await server.wait_for(ready, timeout=20)


async def watch_on_air(server: Server, seen: list[str | None], stop: asyncio.Event) -> None:
    """What the program showed, polled every 50 ms."""
    while not stop.is_set():
        _, state = await server.api("GET", API)
        seen.append(state["on_air"])
        await asyncio.sleep(0.05)


async def kinds(server: Server) -> list[tuple[str, dict[str, Any]]]:
    _, events = await server.api("GET", f"{API}/events")
    return [(e["kind"], e["detail"]) for e in events["events"]]


@pytest.mark.parametrize("how", ["encoder-restart", "page-reload"])
async def test_replacing_the_on_air_session_never_falls_back(tmp_path: Path, aiohttp_server: Any, how: str) -> None:
    # fallback_after well above the ~0.3 s gap plus the new session's set-up on a loaded machine.
    server = await start_server(tmp_path, aiohttp_server, fallback_after=3.0, fallback_policy="manual")
    old_tracks = [Outage(ColourTrack("red")), Outage(ToneTrack(440))]
    old = publisher(server, "alpha", *old_tracks)
    new = publisher(server, "alpha", ColourTrack("blue"), ToneTrack(660))
    seen: list[str | None] = []
    stop = asyncio.Event()
    try:
        await server.go_live(old, frames=30, timeout=20)
        # Until the steps are done: a fixed length raced them on a loaded box.
        recording = FlvPull(f"{server.url}/live/test-show.flv").start()
        watcher = asyncio.ensure_future(watch_on_air(server, seen, stop))
        await asyncio.sleep(2.0)
        if how == "encoder-restart":
            for track in old_tracks:  # the encoder dies: no more media, no DELETE
                track.down = True
        else:
            await old.stop()  # the page unloads: DELETE on its session
        await asyncio.sleep(0.3)
        await new.start()  # the same join link, a new session
        await frames_of(server, "alpha", at_least=60)
        await asyncio.sleep(1.0)  # the new session's picture on air
        flv = await recording.stop()
        stop.set()
        await watcher
        _, state = await server.api("GET", API)
        events = await kinds(server)
    finally:
        stop.set()
        await old.stop()
        await new.stop()
    assert state["program"] == "alpha" and state["on_air"] == "alpha" and state["fallback"] is None
    assert "program.fallback" not in [k for k, _ in events], events
    assert set(seen) == {"alpha"}, seen
    assert [k for k, _ in events].count("studio.joined") == 2
    got = await asyncio.to_thread(decode, flv, "flv")
    assert_continuous(got, 30)
    # What came live (not the GOP cached before the read): the old picture, held through the
    # gap, then the new session's: never the slate.
    colours = [c for c, n in got.after_cached_gop().runs() if n >= 3]
    assert colours == ["red", "blue"], got.runs()


async def test_auto_returns_after_an_outage_and_backs_off_when_it_flaps(tmp_path: Path, aiohttp_server: Any) -> None:
    server = await start_server(
        tmp_path, aiohttp_server, fallback_after=1.0, fallback_policy="auto", fallback_return_after=1.0
    )
    tracks = [Outage(ColourTrack("red")), Outage(ToneTrack(440))]
    alpha = publisher(server, "alpha", *tracks)
    timings: list[float] = []
    try:
        await server.go_live(alpha, frames=30, timeout=20)
        # Until the steps are done: a fixed length raced them on a loaded box.
        recording = FlvPull(f"{server.url}/live/test-show.flv").start()
        await asyncio.sleep(1.5)
        for _ in range(2):
            for track in tracks:
                track.down = True
            state = await server.wait_for(lambda s: s["fallback"] is not None and s["on_air"] is None, timeout=15)
            assert state["program"] == "alpha"  # auto: the stored program stays the studio
            assert state["fallback"]["policy"] == "auto" and not state["fallback"]["latched"]
            await asyncio.sleep(1.5)
            loop = asyncio.get_running_loop()
            back = loop.time()
            for track in tracks:  # the network returns
                track.down = False
            await server.wait_for(lambda s: s["on_air"] == "alpha" and s["fallback"] is None, timeout=15)
            timings.append(loop.time() - back)
            await asyncio.sleep(1.0)
        await asyncio.sleep(0.5)  # the last return on air
        flv = await recording.stop()
        events = await kinds(server)
    finally:
        await alpha.stop()
    fell = [d for k, d in events if k == "program.fallback"]
    returned = [d for k, d in events if k == "program.returned"]
    assert [d["returns_after_s"] for d in fell] == [1.0, 2.0], fell  # the second return within a minute: doubled
    assert [d["reason"] for d in returned] == ["steady for 1 s", "steady for 2 s"], returned
    assert all(d["from"] == "alpha" and d["policy"] == "auto" for d in fell), fell
    assert all(d["studio"] == "alpha" for d in returned), returned
    assert timings[0] >= 1.0 and timings[1] >= 2.0, timings  # never back before steady long enough
    assert timings[0] < 6.0, timings  # generous: set-up of the returning frames on a loaded machine
    got = await asyncio.to_thread(decode_program, flv)
    live = got.after_cached_gop()  # not the GOP cached before the read
    seen = [c for c, n in runs([s["centre"] for s in live.shots]) if n >= 10]
    assert seen == ["red", "slate", "red", "slate", "red"], runs([s["centre"] for s in got.shots])


async def test_audio_only_studio_goes_on_air_with_its_card_and_sound_video_only_stays_silent(
    tmp_path: Path, aiohttp_server: Any
) -> None:
    server = await start_server(tmp_path, aiohttp_server, fallback_policy="manual")
    phone = publisher(server, "alpha", ToneTrack(440))  # a phone-in guest: Opus only
    camera = publisher(server, "bravo", ColourTrack("green"))  # no microphone
    try:
        await phone.start()
        await camera.start()
        await frames_of(server, "alpha", "audio", at_least=50)
        await frames_of(server, "bravo")
        await server.api("POST", f"{API}/cut", json={"studio": "alpha"})
        state = await server.wait_for(lambda s: s["on_air"] == "alpha", timeout=15)
        # Until the steps are done: a fixed length raced them on a loaded box.
        recording = FlvPull(f"{server.url}/live/test-show.flv").start()
        tile_url = f"{server.url}{API}/multiview/alpha.jpg"  # the crew's preview tile: the card too
        async with aiohttp.ClientSession() as http, http.get(tile_url, headers=server.auth) as res:
            assert res.status == 200, await res.text()
            tile = next(iter(av.open(io.BytesIO(await res.read())).decode(video=0)))
        await asyncio.sleep(4.0)
        await server.api("POST", f"{API}/cut", json={"studio": "bravo"})
        await asyncio.sleep(2.5)  # the video-only studio on air (its silence is checked)
        flv = await recording.stop()
        _, after = await server.api("GET", API)
        events = await kinds(server)
    finally:
        await phone.stop()
        await camera.stop()
    assert state["fallback"] is None and after["on_air"] == "bravo" and after["fallback"] is None
    assert {s["id"]: s["audio_only"] for s in state["studios"]} == {"alpha": True, "bravo": False}
    corner = tile.to_ndarray(format="rgb24")[5:20, 5:20].mean(axis=(0, 1))
    assert np.abs(corner - np.array(BACKGROUND)).max() < 12, corner
    assert "program.fallback" not in [k for k, _ in events]
    got = await asyncio.to_thread(decode_program, flv)
    card = rgb_to_yuv(BACKGROUND)
    on_card = longest(got.shots, lambda s: all(abs(a - b) <= 8 for a, b in zip(s.yuv["corner"], card, strict=True)))
    # The studio card (not the slate) all the ~4 s it was on air.
    assert len(on_card) >= 90, runs([s["corner"] for s in got.shots])
    tone = got.audio_between(on_card[10].t, on_card[-10].t)
    assert len(tone) and np.abs(tone).max() > 4000, np.abs(tone).max() if len(tone) else None
    green = [s for s in got.shots if s["centre"] == "green"]
    assert len(green) >= 30
    quiet = got.audio_between(green[10].t, green[-1].t)
    assert len(quiet) and np.abs(quiet).max() < 100  # the video-only studio: silence


async def test_an_ffmpeg_encoder_restart_on_air_keeps_the_studio_on_air(tmp_path: Path, aiohttp_server: Any) -> None:
    """FFmpeg's WHIP muxer killed (no DELETE: its session lingers) and started again on the same link."""
    # A new encoder process needs its start-up (Python, PyAV) plus ~1.1 s of WHIP set-up.
    server = await start_server(tmp_path, aiohttp_server, fallback_after=6.0, fallback_policy="manual")
    url, token = f"{server.url}/whip/test-show/alpha", server.token("alpha")
    common: dict[str, Any] = {"width": 640, "height": 360, "bitrate": 800_000, "stderr": subprocess.DEVNULL}
    first = spawn_studio(url, token, "alpha", pattern="red", **common)
    second: subprocess.Popen[bytes] | None = None
    seen: list[str | None] = []
    stop = asyncio.Event()
    try:
        await frames_of(server, "alpha")
        await server.api("POST", f"{API}/cut", json={"studio": "alpha"})
        await server.wait_for(lambda s: s["on_air"] == "alpha", timeout=15)
        _, state = await server.api("GET", API)
        old_session = next(s["stats"]["session"] for s in state["studios"] if s["id"] == "alpha")
        # Until the steps are done: a fixed length raced them on a loaded box.
        recording = FlvPull(f"{server.url}/live/test-show.flv").start()
        watcher = asyncio.ensure_future(watch_on_air(server, seen, stop))
        await asyncio.sleep(2.0)
        first.kill()  # the encoder crashes
        first.wait()
        second = spawn_studio(url, token, "alpha", pattern="blue", **common)

        def replaced(s: dict[str, Any]) -> bool:
            stats = next(x["stats"] for x in s["studios"] if x["id"] == "alpha") or {}
            return stats.get("session") not in (None, old_session) and stats.get("video_frames", 0) > 30

        await server.wait_for(replaced, timeout=20)
        await asyncio.sleep(1.0)  # the new encoder's picture on air
        flv = await recording.stop()
        stop.set()
        await watcher
        events = await kinds(server)
    finally:
        stop.set()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(10)
    assert "program.fallback" not in [k for k, _ in events], events
    assert set(seen) == {"alpha"}, seen
    got = await asyncio.to_thread(decode, flv, "flv")
    colours = [c for c, n in got.after_cached_gop().runs() if n >= 3]  # live: not the cached GOP
    assert colours == ["red", "blue"], got.runs()
