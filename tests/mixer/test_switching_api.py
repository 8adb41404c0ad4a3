"""The mixer API without media: validation, the take swap, layouts, panic and audio state,
and that all of it survives a restart through the state store (memory round trip and Redis)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import ConfigError
from orchestrator.mixerstate import scene_of
from orchestrator.store import ShowState
from tests.conftest import Server, make_config, serve
from tests.redisserver import RedisServer

API = "/api/shows/test-show"


async def test_take_swaps_preview_and_program(server: Server) -> None:
    status, body = await server.api("POST", f"{API}/take", json={})
    assert status == 409 and "preview" in body["error"]
    await server.api("POST", f"{API}/cut", json={"studio": "alpha"})
    await server.api("POST", f"{API}/preview", json={"studio": "bravo"})
    status, body = await server.api("POST", f"{API}/take", json={"transition": "fade", "duration_ms": 300})
    assert status == 200, body
    assert (body["program"], body["preview"]) == ("bravo", "alpha")
    assert body["transition"] == {"kind": "fade", "duration_ms": 300}
    status, body = await server.api("POST", f"{API}/take", json={"transition": "wipe"})
    assert (body["program"], body["preview"], body["transition"]["duration_ms"]) == ("alpha", "bravo", 500)
    _, events = await server.api("GET", f"{API}/events")
    takes = [e["detail"] for e in events["events"] if e["kind"] == "program.take"]
    assert takes[0] == {"from": "alpha", "to": "bravo", "transition": "fade", "duration_ms": 300}


@pytest.mark.parametrize("asked", [{"transition": "cut"}, {}, {"transition": None}, {"duration_ms": 800}])
async def test_a_cut_has_no_duration(server: Server, asked: dict[str, Any]) -> None:
    """The show's transition_ms (500) is a fade's or wipe's, never a cut's: 0 in the answer,
    the audit line and the stored scene the clock runs."""
    await server.api("POST", f"{API}/cut", json={"studio": "alpha"})
    await server.api("POST", f"{API}/preview", json={"studio": "bravo"})
    status, body = await server.api("POST", f"{API}/take", json=asked)
    assert status == 200 and body["transition"] == {"kind": "cut", "duration_ms": 0}, body
    _, state = await server.api("GET", API)
    assert state["transition"] == {"kind": "cut", "duration_ms": 0}, state.get("transition")
    _, events = await server.api("GET", f"{API}/events")
    (take,) = [e["detail"] for e in events["events"] if e["kind"] == "program.take"]
    assert take == {"from": "alpha", "to": "bravo", "transition": "cut", "duration_ms": 0}


@pytest.mark.parametrize(
    "path,body,status,words",
    [
        ("take", {"transition": "dissolve"}, 400, "transition"),
        ("take", {"duration_ms": 5001}, 400, "duration_ms"),
        ("take", {"duration_ms": "500"}, 400, "duration_ms"),
        ("take", {"speed": 1}, 400, "unknown field"),
        ("layout", {}, 400, "layout"),
        ("layout", {"layout": "quad"}, 400, "layout"),
        ("layout", {"layout": "pip", "studios": ["alpha"]}, 400, "2 different"),
        ("layout", {"layout": "pip", "studios": ["alpha", "alpha"]}, 400, "2 different"),
        ("layout", {"layout": "pip", "studios": ["alpha", "zulu"]}, 404, "zulu"),
        ("layout", {"layout": "pip", "studios": ["alpha", "bravo"], "corner": "middle"}, 400, "corner"),
        ("layout", {"layout": "pip", "studios": "alpha,bravo"}, 400, "list"),
        ("panic", {"on": "yes"}, 400, "'on'"),
        ("audio/alpha", {}, 400, "gain_db"),
        ("audio/alpha", {"gain_db": 12.5}, 400, "gain_db"),
        ("audio/alpha", {"gain_db": -61}, 400, "gain_db"),
        ("audio/alpha", {"gain_db": True}, 400, "gain_db"),
        ("audio/alpha", {"mute": 1}, 400, "mute"),
        ("audio/zulu", {"mute": True}, 404, "zulu"),
        ("fallback-policy", {}, 400, "policy"),
        ("fallback-policy", {"policy": "sometimes"}, 400, "policy"),
        ("fallback-policy", {"policy": "auto", "after": 2}, 400, "unknown field"),
    ],
)
async def test_bad_requests_are_clear_4xx(
    server: Server, path: str, body: dict[str, Any], status: int, words: str
) -> None:
    got, answer = await server.api("POST", f"{API}/{path}", json=body)
    assert got == status and words in answer["error"], answer


async def test_operator_token_is_required(server: Server) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.post(f"{server.url}{API}/panic") as res:
        assert res.status == 401


async def test_layout_panic_and_audio_state(server: Server) -> None:
    await server.api("POST", f"{API}/cut", json={"studio": "alpha"})
    await server.api("POST", f"{API}/preview", json={"studio": "bravo"})
    # No studios: preview then program. A layout is built on preview: the program is untouched.
    status, body = await server.api("POST", f"{API}/layout", json={"layout": "pip", "corner": "top-left"})
    pip = {"layout": "pip", "studios": ["bravo", "alpha"], "corner": "top-left"}
    assert status == 200 and body["preview_layout"] == pip, body
    assert body["layout"] == {"layout": "single", "studios": ["alpha"], "corner": "bottom-right"}
    # The take puts the whole look on air; the old program comes back to preview.
    _, body = await server.api("POST", f"{API}/take", json={"transition": "cut"})
    assert body["layout"] == pip and body["preview_layout"]["studios"] == ["alpha"]
    # Cutting to the inset studio swaps it with the main one.
    _, body = await server.api("POST", f"{API}/cut", json={"studio": "alpha"})
    _, state = await server.api("GET", API)
    assert state["layout"]["studios"] == ["alpha", "bravo"]
    _, body = await server.api("POST", f"{API}/layout", json={"layout": "single", "studios": ["alpha"]})
    _, body = await server.api("POST", f"{API}/take", json={})
    assert body["layout"]["studios"] == ["alpha"]
    _, body = await server.api("POST", f"{API}/audio/alpha", json={"gain_db": -6.5, "mute": True})
    assert body["audio"]["studios"]["alpha"]["gain_db"] == -6.5 and body["audio"]["studios"]["alpha"]["mute"]
    _, body = await server.api("POST", f"{API}/audio/alpha", json={"mute": False})
    assert body["audio"]["studios"]["alpha"] == {**body["audio"]["studios"]["alpha"], "gain_db": -6.5, "mute": False}
    _, body = await server.api("POST", f"{API}/panic")
    assert body["panic"] is True
    _, body = await server.api("POST", f"{API}/unpanic")
    assert body["panic"] is False
    _, meters = await server.api("GET", f"{API}/audio")
    assert set(meters["studios"]) == {"alpha", "bravo"} and "peak_dbfs" in meters["program"]


def test_show_state_round_trips_the_mixer_fields() -> None:
    state = ShowState(
        show="s",
        program="a",
        layout="pip",
        layout_studios=("b",),
        corner="top-left",
        take_seq=7,
        transition="slide",
        transition_ms=800,
        panic=True,
        gains_db={"a": -3.0},
        muted=("b",),
    )
    assert ShowState.from_json(state.to_json()) == state
    assert ShowState.from_json({"show": "s"}) == ShowState(show="s")  # older records still load


def state_of(mixer: dict[str, Any]) -> dict[str, Any]:
    return {"show": "test-show", "fallback_policy": mixer["fallback_policy"]}


async def test_the_crew_sets_the_fallback_policy(server: Server) -> None:
    _, state = await server.api("GET", API)
    assert state["fallback_policy"] == "auto"  # the config's default
    status, body = await server.api("POST", f"{API}/fallback-policy", json={"policy": "manual"})
    assert status == 200 and body["fallback_policy"] == "manual", body
    show = server.config.shows[0]
    assert scene_of(show, ShowState.from_json(state_of(body))).fallback_policy == "manual"  # what the clock gets
    assert scene_of(show, ShowState(show=show.id)).fallback_policy == "auto"
    _, state = await server.api("GET", API)
    assert state["fallback_policy"] == "manual"
    _, events = await server.api("GET", f"{API}/events")
    assert [e["detail"] for e in events["events"] if e["kind"] == "program.fallback_policy"] == [{"policy": "manual"}]


def test_config_mixer_settings(tmp_path: Path) -> None:
    show = make_config(tmp_path, orientation="portrait", width=1280, height=720, backup_studio="bravo").shows[0]
    assert (show.width, show.height, show.backup_studio) == (720, 1280, "bravo")
    for bad in (
        {"orientation": "square"},
        {"fit": "stretch"},
        {"fill_colour": "red"},
        {"fallback_after": 0.0},
        {"backup_studio": "zulu"},
        {"transition_ms": 6000},
        {"fallback_policy": "sometimes"},
        {"fallback_return_after": 0.0},
    ):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            make_config(tmp_path, **bad)


def test_config_studio_photo_is_checked_at_start(tmp_path: Path) -> None:
    from PIL import Image

    good = tmp_path / "face.png"
    Image.new("RGB", (64, 48), (200, 120, 80)).save(good)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    studios = [{"id": "alpha", "name": "Alpha", "photo": str(good)}]
    assert make_config(tmp_path, studios=studios).shows[0].studios[0].photo == str(good)
    for bad in (tmp_path / "missing.png", notes):
        studios = [{"id": "alpha", "name": "Alpha", "photo": str(bad)}]
        with pytest.raises(ConfigError, match=r"studios\[0\]\.photo: .* is not a readable picture"):
            make_config(tmp_path, studios=studios)


async def test_mixer_state_survives_a_restart(tmp_path: Path, redis: RedisServer, aiohttp_server: Any) -> None:
    """A second node starting on the same store is a restart: its program comes from the store."""

    async def node(name: str) -> Server:
        config = make_config(tmp_path / name)
        config = dataclasses.replace(config, server=dataclasses.replace(config.server, redis_url=redis.url))
        return await serve(aiohttp_server, config)

    a = await node("a")
    await a.api("POST", f"{API}/layout", json={"layout": "side-by-side", "studios": ["bravo", "alpha"]})
    await a.api("POST", f"{API}/take", json={})
    await a.api("POST", f"{API}/audio/bravo", json={"gain_db": 3.0, "mute": True})
    await a.api("POST", f"{API}/panic", json={"on": True})
    b = await node("b")
    _, state = await b.api("GET", API)
    assert state["program"] == "bravo" and state["panic"] is True
    assert state["layout"] == {"layout": "side-by-side", "studios": ["bravo", "alpha"], "corner": "bottom-right"}
    assert state["audio"]["studios"]["bravo"]["gain_db"] == 3.0 and state["audio"]["studios"]["bravo"]["mute"]
    # What node b's clock does with it: the slate (panic) with bravo and alpha side by side behind it.
    assert state["mixer"]["on_air"] is None
