"""Two programs from one scene: a show with ``programs = ["landscape", "portrait"]``.

Real aiortc studios send solid red and green; the crew cuts and puts a card on air with one
command each; both programs' HTTP-FLV and HLS outputs are pulled as a CDN would and decoded:
each has its own geometry (640x360 and 360x640), shows the same studio after each cut at the
same frame, and draws the card where its own layout puts it (portrait: in the bottom third,
above the phone app's own interface).
"""

from __future__ import annotations

import asyncio
import io
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from PIL import Image

from mixer.graphics.blend import canvas_planes
from mixer.graphics.director import GraphicsDirector
from mixer.graphics.layout import SAFE_BOTTOM
from mixer.graphics.overlaystack import OverlayStack
from orchestrator import answers, catalogue
from orchestrator.showprograms import ENDED_HLS_SEGMENTS
from orchestrator.store import ShowState
from tests.conftest import Server, make_config, serve
from tests.flvpull import FlvPull, record_flv
from tests.mediacheck import assert_continuous, decode, fetch_hls, without_cue_points
from tests.mixer.test_whep import WhepClient
from tests.studioprocess import spawn_test_studio
from tests.whipclient import AiortcPublisher

API = "/api/shows/test-show"
SIZES = {"test-show": (640, 360), "test-show-portrait": (360, 640)}
CARD = {"main": {"product": "soup", "price": 39.9, "was_price": 59.9, "shown_at": 0.0}}


@pytest.fixture
async def two_programs(tmp_path: Path, aiohttp_server: Any) -> Server:
    config = make_config(tmp_path, programs=["landscape", "portrait"])
    return await serve(aiohttp_server, config)


def _colour(u: float, v: float) -> str:
    if v > 200 and u < 120:
        return "red"
    if v < 70 and u < 80:
        return "green"
    return "other"


def _card_rect(server: Server, w: int, h: int) -> tuple[int, int, int, int]:
    """Where the server's own graphics code puts the main card on a ``w``x``h`` canvas."""
    show = server.config.shows[0]
    director = GraphicsDirector(OverlayStack(), w, h, clock=lambda: 0.0, wall=lambda: 0.0)
    director.apply(director.prepare(catalogue.graphics_scene(show, ShowState(show.id, cards=CARD))))
    return director.on_air()["main"]


def _frames(flv: bytes, w: int, h: int, card: tuple[int, int, int, int]) -> list[tuple[float, str, str, bool]]:
    """Per decoded frame: (pts s, colour at the centre, colour near the left edge, card drawn)."""
    out = []
    x, y, cw, ch = card
    box = (slice(y // 2 + 4, (y + ch) // 2 - 4), slice(x // 2 + 4, (x + cw) // 2 - 4))
    with av.open(io.BytesIO(without_cue_points(flv)), format="flv") as container:
        for frame in container.decode(video=0):
            assert (frame.width, frame.height) == (w, h)
            assert frame.pts is not None and frame.time_base is not None
            _, u, v = canvas_planes(frame.to_ndarray(format="yuv420p"), w, h)
            centre = _colour(
                float(u[h // 4 - 3 : h // 4 + 3, w // 4 - 3 : w // 4 + 3].mean()),
                float(v[h // 4 - 3 : h // 4 + 3, w // 4 - 3 : w // 4 + 3].mean()),
            )
            edge = _colour(float(u[h // 4 - 3 : h // 4 + 3, 2:6].mean()), float(v[h // 4 - 3 : h // 4 + 3, 2:6].mean()))
            # The card's inside is white and navy: neither studio's colour.
            inside = [
                _colour(float(a), float(b)) for a, b in zip(u[box].ravel()[::7], v[box].ravel()[::7], strict=True)
            ]
            drawn = inside.count("other") > 0.8 * len(inside)
            out.append((float(frame.pts * Fraction(frame.time_base)), centre, edge, drawn))
    return out


def _first(frames: list[tuple[float, str, str, bool]], test: Any, after: float = -1.0) -> float:
    return next(t for t, c, e, d in frames if t > after and test(c, e, d))


async def test_landscape_and_portrait_from_one_scene(two_programs: Server) -> None:
    server = two_programs
    alpha = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "red", hz=440)
    bravo = AiortcPublisher(server.url, "test-show", "bravo", server.token("bravo"), "green", hz=1000)
    try:
        await alpha.start()
        await bravo.start()

        def ready(state: dict[str, Any]) -> bool:
            stats = {s["id"]: s["stats"] or {} for s in state["studios"]}
            return all(stats[s].get("video_frames", 0) > 30 for s in ("alpha", "bravo"))

        await server.wait_for(ready, timeout=20)
        await server.api("POST", f"{API}/cut", json={"studio": "alpha"})
        await asyncio.sleep(1.2)  # a keyframe of red: the FLV starts there
        # Until the steps are done: a fixed length raced them on a loaded box.
        recordings = {pid: FlvPull(f"{server.url}/live/{pid}.flv").start() for pid in SIZES}
        await asyncio.sleep(2.0)
        status, _ = await server.api("POST", f"{API}/cards", json={"product": "soup", "slot": "main"})
        assert status == 200
        await asyncio.sleep(2.0)
        status, _ = await server.api("POST", f"{API}/cut", json={"studio": "bravo"})  # one command, both programs
        assert status == 200
        await asyncio.sleep(2.0)
        status, _ = await server.api("DELETE", f"{API}/cards/main")
        assert status == 200
        await asyncio.sleep(2.0)  # the program after the card left
        flvs = {pid: await rec.stop() for pid, rec in recordings.items()}
        hls = {pid: await fetch_hls(f"{server.url}/live/{pid}/index.m3u8") for pid in SIZES}
        _, state = await server.api("GET", API)
        status, _ = await server.api("GET", "/live/test-show-landscape/index.m3u8")
        assert status == 404  # the main program is the show's own name
    finally:
        await alpha.stop()
        await bravo.stop()

    answers.Show.model_validate(state)  # the view's model (OpenAPI) holds for two programs
    portrait_outputs = state["outputs"]["programs"]["test-show-portrait"]
    assert (portrait_outputs["width"], portrait_outputs["height"]) == (360, 640)
    assert portrait_outputs["hls"]["url"] == "/live/test-show-portrait/index.m3u8"
    assert [p["orientation"] for p in state["mixer"]["programs"]] == ["landscape", "portrait"]

    seen: dict[str, dict[str, float]] = {}
    for pid, (w, h) in SIZES.items():
        card = _card_rect(server, w, h)
        if h > w:  # the portrait card: bottom third, above the app's own interface
            assert card[1] + card[3] > h * 2 / 3 and card[1] + card[3] <= h * (1 - SAFE_BOTTOM) + 2, card
        frames = await asyncio.to_thread(_frames, flvs[pid], w, h, card)
        assert_continuous(await asyncio.to_thread(decode, flvs[pid], "flv"), 30)
        start = _first(frames, lambda c, e, d: c == "red")  # the FLV opens at a keyframe: maybe the slate before
        on = _first(frames, lambda c, e, d: d, after=start)
        cut = _first(frames, lambda c, e, d: c == "green", after=on)
        off = _first(frames, lambda c, e, d: c == "green" and not d, after=cut + 0.5)
        seen[pid] = {"card_on": on, "cut": cut, "card_off": off}
        red = [f for f in frames if start <= f[0] < on]
        assert len(red) > 20 and all(c == "red" and not d for _, c, _, d in red), pid  # red, no card
        with_card = [f for f in frames if on + 0.5 < f[0] < off - 0.5]
        assert len(with_card) > 45 and all(d for *_, d in with_card), pid  # drawn until hidden, red then green
        assert {c for _, c, _, _ in with_card} == {"red", "green"}, pid
        after = [f for f in frames if f[0] > off + 0.6]
        assert after and all(c == "green" and not d for _, c, _, d in after), pid
        # The host's picture fills each canvas to its left edge (portrait crops: no bars).
        assert all(e == c for t, c, e, _ in frames if t >= start and c != "other"), pid
        # HLS of the same program: the same geometry, one clean timeline.
        decoded = await asyncio.to_thread(decode, hls[pid][1], "mpegts")
        assert decoded.size == (w, h), (pid, decoded.size)
        assert_continuous(decoded, 30)
        # The program's own timed metadata: the card's cue as an FLV script tag (onCuePoint).
        assert b"onCuePoint" in flvs[pid], pid
    # One scene: the cut and the card are on the same frame (within one) in both programs.
    land, port = seen["test-show"], seen["test-show-portrait"]
    for key in land:
        assert abs(land[key] - port[key]) <= 1 / 30 + 0.002, (key, land, port)


async def test_a_portrait_first_show_with_an_upright_synthetic_studio(tmp_path: Path, aiohttp_server: Any) -> None:
    """Portrait first (``/live/{show}`` is 9:16), landscape second; the studio is the demo's synthetic
    one held upright (360x640: its clock crashed every frame before). Each WHEP viewer gets its
    program's shape; the multiview keeps each picture's shape (no 16:9 box for a 9:16 source)."""
    config = make_config(tmp_path, programs=["portrait", "landscape"])
    server = await serve(aiohttp_server, config)
    studio = spawn_test_studio(
        server, "alpha", "北京 Beijing 直播间",
        width=360, height=640, fps=30, bitrate=600_000, retry=True, verbose=False, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    viewers = {pid: WhepClient(f"{server.url}/whep/{pid}") for pid in ("test-show", "test-show-landscape")}
    try:
        await server.wait_for(lambda s: (s["studios"][0]["stats"] or {}).get("video_frames", 0) > 30, timeout=30)
        status, _ = await server.api("POST", f"{API}/cut", json={"studio": "alpha"})
        assert status == 200
        for viewer in viewers.values():
            await viewer.start()
        async with asyncio.timeout(20):
            while not all(len(v.video) >= 20 for v in viewers.values()):
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # a multiview refresh after the cut
        shapes = {}
        for source in ("alpha", "program", "program-landscape"):
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{server.url}{API}/multiview/{source}.jpg", headers=server.auth) as res,
            ):
                assert res.status == 200, source
                shapes[source] = Image.open(io.BytesIO(await res.read())).size
        _, state = await server.api("GET", API)
    finally:
        for viewer in viewers.values():
            await viewer.stop(server.url)
        studio.terminate()
        await asyncio.to_thread(studio.wait, 10)
    assert viewers["test-show"].sizes == {(360, 640)}
    assert viewers["test-show-landscape"].sizes == {(640, 360)}
    assert state["on_air"] == "alpha" and state["mixer"]["late_ticks"] >= 0
    assert [(p["width"], p["height"]) for p in state["mixer"]["programs"]] == [(360, 640), (640, 360)]
    assert state["outputs"]["programs"]["test-show-landscape"]["whep"]["url"] == "/whep/test-show-landscape"
    # Previews keep their source's shape: the upright studio and the 9:16 program stay upright.
    (sw, sh), (pw, ph), (lw, lh) = shapes["alpha"], shapes["program"], shapes["program-landscape"]
    assert abs(sw / sh - 9 / 16) < 0.03 and abs(pw / ph - 9 / 16) < 0.03 and abs(lw / lh - 16 / 9) < 0.03, shapes


async def test_the_portrait_program_is_added_and_removed_live(server: Server) -> None:
    """A landscape show gets its 9:16 program from an operator command and loses it again; the
    landscape program runs on without a break; bad requests are refused with a reason."""
    alpha = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "red", hz=440)
    try:
        await alpha.start()
        await server.wait_for(lambda s: (s["studios"][0]["stats"] or {}).get("video_frames", 0) > 30)
        await server.api("POST", f"{API}/cut", json={"studio": "alpha"})
        await asyncio.sleep(1.2)
        main = asyncio.ensure_future(record_flv(f"{server.url}/live/test-show.flv", 9.0))
        for bad, why in (
            (["portrait"], "main program stays 'landscape'"),
            (["landscape", "landscape"], "at most once"),
            (["landscape", "square"], "must be one of"),
            ([], "must not be empty"),
        ):
            status, body = await server.api("POST", f"{API}/programs", json={"programs": bad})
            assert status == 400 and why in body["error"], (bad, body)
        status, body = await server.api("POST", f"{API}/programs", json={"programs": ["landscape", "portrait"]})
        assert status == 200 and body["programs"] == ["landscape", "portrait"], body
        answers.ProgramsChanged.model_validate(body)
        await server.api("POST", f"{API}/cards", json={"product": "soup", "slot": "main"})
        portrait = await record_flv(f"{server.url}/live/test-show-portrait.flv", 3.0)
        await asyncio.sleep(1.0)
        _, playlist = await fetch_hls(f"{server.url}/live/test-show-portrait/index.m3u8")
        # A player pulling FLV while the program is removed: its stream ends (not left hanging).
        reader = asyncio.ensure_future(record_flv(f"{server.url}/live/test-show-portrait.flv", 60.0))
        await asyncio.sleep(1.0)
        status, body = await server.api("POST", f"{API}/programs", json={"programs": ["landscape"]})
        assert status == 200 and body == {"programs": ["landscape"], "outputs": {}}, body
        # HLS players see the end at once (ENDLIST after the last segment), not a stalled playlist.
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/live/test-show-portrait/index.m3u8") as res:
                ended = (res.status, await res.text())
            last = ended[1].strip().splitlines()[-2]
            async with http.get(f"{server.url}/live/test-show-portrait/{last}") as res:
                last_segment = res.status
        cut_off = await asyncio.wait_for(reader, 15.0)
        await asyncio.sleep(ENDED_HLS_SEGMENTS * 1.0 + 1.0)  # hls_segment_seconds = 1 (tests/conftest.py)
        status, gone = await server.api("GET", "/live/test-show-portrait/index.m3u8")
        main_flv = await main
        _, events = await server.api("GET", f"{API}/events")
    finally:
        await alpha.stop()
    assert ended[0] == 200 and ended[1].rstrip().endswith("#EXT-X-ENDLIST"), ended
    assert last_segment == 200, last
    assert (await asyncio.to_thread(decode, cut_off, "flv")).size == (360, 640)  # it ran, then ended
    assert status == 404, gone  # and then the program is gone
    frames = await asyncio.to_thread(_frames, portrait, 360, 640, _card_rect(server, 360, 640))
    assert len(frames) > 30 and all(c == "red" and e == "red" for _, c, e, _ in frames[5:])
    assert any(d for *_, d in frames)  # the card that was on air, in its portrait place
    assert (await asyncio.to_thread(decode, playlist, "mpegts")).size == (360, 640)
    assert_continuous(await asyncio.to_thread(decode, main_flv, "flv"), 30)  # landscape never stopped
    changes = [e["detail"] for e in events["events"] if e["kind"] == "programs.changed"]
    assert {"from": ["landscape"], "to": ["landscape", "portrait"]} in changes
    assert {"from": ["landscape", "portrait"], "to": ["landscape"]} in changes


async def test_rtmp_destinations_push_the_program_they_name(two_programs: Server, tmp_path: Path) -> None:
    """One destination gets the 9:16 program, another the 16:9 one (FFmpeg's RTMP listener, decoded);
    a destination for a program the show does not have (or has off now) is refused; the destination
    list names each one's program, and one whose program is off says it waits for it."""
    from tests.mixer.test_rtmp import Listener
    from tests.ports import free_port

    server = two_programs
    ports = {"portrait": free_port(), "": free_port()}
    listeners = {p: Listener(port, tmp_path / f"rtmp-{p or 'main'}.flv", seconds=3) for p, port in ports.items()}
    try:
        for listener in listeners.values():
            await listener.listening()
        for program, port in ports.items():
            body = {"name": f"cdn-{program or 'main'}", "url": f"rtmp://127.0.0.1:{port}/live/key", "program": program}
            status, answer = await server.api("POST", f"{API}/outputs/rtmp", json=body)
            assert status == 201, answer
        bad = {"name": "x", "url": "rtmp://127.0.0.1:1/live/key", "program": "square"}
        status, answer = await server.api("POST", f"{API}/outputs/rtmp", json=bad)
        assert status == 400 and "program" in answer["error"], answer
        for listener in listeners.values():
            await listener.wait(timeout=30)
        _, state = await server.api("GET", API)
        _, listed = await server.api("GET", f"{API}/outputs/rtmp")
        status, answer = await server.api("POST", f"{API}/programs", json={"programs": ["landscape"]})
        assert status == 200, answer
        _, waiting = await server.api("GET", f"{API}/outputs/rtmp")
        off = {"name": "cdn-off", "url": "rtmp://127.0.0.1:1/live/key", "program": "portrait"}
        refused = await server.api("POST", f"{API}/outputs/rtmp", json=off)
    finally:
        for listener in listeners.values():
            listener.kill()
    sizes = {p: (await asyncio.to_thread(decode, str(lst.path))).size for p, lst in listeners.items()}
    assert sizes == {"portrait": (360, 640), "": (640, 360)}, sizes
    names = [d["name"] for d in state["outputs"]["programs"]["test-show-portrait"]["rtmp"]]
    assert names == ["cdn-portrait"] and [d["name"] for d in state["outputs"]["rtmp"]] == ["cdn-main"]
    answers.DestinationList.model_validate(listed)
    assert [(d["name"], d["program"]) for d in listed["destinations"]] == [
        ("cdn-main", "landscape"),
        ("cdn-portrait", "portrait"),
    ], listed
    by_name = {d["name"]: d for d in waiting["destinations"]}
    assert by_name["cdn-portrait"]["state"] == "waiting for program" and not by_name["cdn-portrait"]["up"], waiting
    assert refused[0] == 400 and "'portrait' is not a program of this show" in refused[1]["error"], refused


async def test_a_delay_and_a_dump_cover_both_programs(two_programs: Server) -> None:
    """The broadcast delay of an output applies to that output of both programs; a dump puts each
    program's own slate (its size) in place of what both hold."""
    server = two_programs
    status, body = await server.api("POST", f"{API}/delay", json={"output": "hls", "delay_s": 3})
    assert status == 200, body
    await asyncio.sleep(2.0)  # packets held by both programs' HLS delay lines
    _, state = await server.api("GET", API)
    held = state["outputs"]["programs"]["test-show-portrait"]["delays"]["hls"]
    assert held["delay_s"] == 3 and held["held_seconds"] > 0.5, held
    status, body = await server.api("POST", f"{API}/dump", json={})
    assert status == 200, body
    assert body["dumped"].get("hls", 0) > 0 and body["dumped"].get("hls@test-show-portrait", 0) > 0, body
