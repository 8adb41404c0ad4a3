"""Alarms (orchestrator/alarms.py), the host's honest tally and live product data, countdowns that end.

The alarm rules are pure functions and a small list, tested directly; the rest goes through the
running server's API and the host's own WebSocket, as a host page sees it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from orchestrator import alarms
from orchestrator.alarms import Alarms, Condition
from orchestrator.config import Show
from tests.conftest import Server

SHOW = "/api/shows/test-show"


def _show() -> Show:
    from orchestrator.config import Studio

    studios = (Studio(id="hk", name="香港", name_en="Hong Kong"), Studio(id="bj", name="北京"))
    return Show(id="s", title="S", studios=studios)


def test_an_alarm_stays_until_acknowledged_and_goes_once_acknowledged_and_cleared() -> None:
    book = Alarms()
    lost = Condition("studio.no_signal:hk", "studio.no_signal", "Hong Kong: no signal", "cut to 北京")
    assert [a.id for a in book.update([lost], 100.0)] == ["studio.no_signal:hk"]
    assert book.update([lost], 101.0) == []  # raised once, not again while it lasts
    book.update([], 102.0)  # the condition clears: still listed, unacknowledged
    (alarm,) = book.view()
    assert alarm["active"] is False and alarm["cleared_at"] == 102.0 and alarm["acked_by"] is None
    assert book.unacknowledged == 1
    book.acknowledge("studio.no_signal:hk", "li", 103.0)
    assert book.view() == []
    # Acknowledged while still active: it stays (seen), goes when the condition clears.
    book.update([lost], 104.0)
    book.acknowledge("studio.no_signal:hk", "li", 105.0)
    assert book.view()[0]["acked_by"] == "li" and book.unacknowledged == 0
    book.update([], 106.0)
    assert book.view() == []


def test_conditions_name_the_cause_and_the_fix() -> None:
    show = _show()
    now = 1_778_385_665.0  # 2026-05-10 12:01:05 in Shanghai
    signals = [alarms.Signal("hk", True, 2.5, now - 2.5), alarms.Signal("bj", True, 0.1, now)]
    found = alarms.conditions(show, signals, {"hk"}, ["bj"], {}, {}, None, now)
    assert [(c.id, c.fix) for c in found] == [("studio.no_signal:hk", "cut to 北京")]
    assert found[0].cause == "Hong Kong: no signal since 12:01:02"
    fallback = alarms.fallback_condition(show, "hk", "bj", now)
    assert fallback.cause == "Hong Kong lost: on backup 北京 since 12:01:05"
    # The encoder: behind for 2 s at 15 of 30 fps.
    mixer = {"output_fps": 15.2, "configured_fps": 30, "encoder_dropped": 48, "late_ticks": 7, "uptime_s": 10}
    assert alarms.is_behind(mixer)
    (behind,) = alarms.conditions(show, [], set(), [], mixer, {}, now - 3, now)
    assert behind.kind == "encoder.behind" and "15.2 of 30 fps" in behind.cause and "48 frames dropped" in behind.cause
    assert alarms.conditions(show, [], set(), [], mixer, {}, now - 0.5, now) == []  # not yet: a blip
    rtmp = {"rtmp": [{"name": "cdn", "state": "backoff", "up": False, "errors": 3, "last_error": "refused"}]}
    (failed,) = alarms.conditions(show, [], set(), [], {}, rtmp, None, now)
    assert failed.id == "output.failed:rtmp:cdn" and "refused" in failed.cause


async def _host_messages(server: Server, studio: str) -> tuple[aiohttp.ClientSession, Any]:
    http = aiohttp.ClientSession()
    ws = await http.ws_connect(f"{server.url}/host/{server.token(studio)}/ws")
    return http, ws


async def _until(ws: Any, predicate: Any, timeout: float = 5) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive_json()
            if msg.get("type") == "state" and predicate(msg):
                return msg  # type: ignore[no-any-return]


async def test_host_sees_the_live_price_and_an_honest_tally(server: Server) -> None:
    http, ws = await _host_messages(server, "bravo")
    try:
        # The live price (¥39.9 -> ¥29.9) reaches the host's cue, not the catalogue's.
        await server.api("PATCH", f"{SHOW}/products/soup", json={"price": 29.9})
        await server.api("POST", f"{SHOW}/studios/bravo/cue", json={"product": "soup", "message": ""})
        msg = await _until(ws, lambda m: m["cue"] is not None)
        assert msg["cue"]["product"]["price"] == 29.9 and msg["cue"]["when"] == "next"
        assert msg["cue"]["product"]["was_price"] == 59.9  # still above the live price: struck through
        _, events = await server.api("GET", f"{SHOW}/events")
        assert [e["detail"]["price"] for e in events["events"] if e["kind"] == "cue.set"] == [29.9]  # audit: live
        # The inset of a picture in picture is on air: the host's tally says so ...
        await server.api("POST", f"{SHOW}/cut", json={"studio": "alpha"})
        await server.api("POST", f"{SHOW}/layout", json={"layout": "pip", "studios": ["alpha", "bravo"]})
        try:  # built on preview: not on air yet
            early = await _until(ws, lambda m: m["tally"] == "program", timeout=1.0)
            raise AssertionError(f"on air before the take: {early}")
        except TimeoutError:
            pass
        await server.api("POST", f"{SHOW}/take", json={})
        msg = await _until(ws, lambda m: m["tally"] == "program")
        assert msg["cue"]["when"] == "now"
        # ... panic takes everyone off air, fade to black too.
        await server.api("POST", f"{SHOW}/panic", json={})
        await _until(ws, lambda m: m["tally"] == "panic")
        await server.api("POST", f"{SHOW}/unpanic", json={})
        await _until(ws, lambda m: m["tally"] == "program")
        status, body = await server.api("POST", f"{SHOW}/ftb", json={"on": True, "duration_ms": 0})
        assert status == 200 and body["ftb"] is True
        await _until(ws, lambda m: m["tally"] == "black")
    finally:
        await ws.close()
        await http.close()


async def test_tbar_and_ftb_api(server: Server) -> None:
    await server.api("POST", f"{SHOW}/cut", json={"studio": "alpha"})
    status, body = await server.api("POST", f"{SHOW}/tbar", json={"position": 0.5})
    assert status == 409 or body["tbar"] == 0.5  # nothing on preview: the take at 1 is refused, not a move
    await server.api("POST", f"{SHOW}/preview", json={"studio": "bravo"})
    status, body = await server.api("POST", f"{SHOW}/tbar", json={"position": 0.4})
    assert status == 200 and body["tbar"] == 0.4 and body["program"] == "alpha"
    status, body = await server.api("POST", f"{SHOW}/tbar", json={"position": 1})
    assert status == 200 and body["program"] == "bravo" and body["tbar"] == 0.0
    for bad in ({"position": 2}, {"position": "half"}, {}, {"position": 0.5, "x": 1}):
        status, body = await server.api("POST", f"{SHOW}/tbar", json=bad)
        assert status == 400, (bad, body)
    status, body = await server.api("POST", f"{SHOW}/ftb", json={"on": "yes"})
    assert status == 400


async def test_a_finished_countdown_takes_its_card_off_air(server: Server) -> None:
    status, _ = await server.api("POST", f"{SHOW}/cards", json={"product": "soup", "countdown_s": 1})
    assert status == 200
    await server.wait_for(lambda s: not s["cards"], timeout=10)
    _, events = await server.api("GET", f"{SHOW}/events")
    hidden = [e for e in events["events"] if e["kind"] == "card.hidden"]
    assert hidden and hidden[-1]["actor"] == "system:countdown"


async def test_alarm_api_acknowledges_and_audits(server: Server) -> None:
    _, body = await server.api("GET", f"{SHOW}/alarms")
    assert body == {"alarms": []}
    status, body = await server.api("POST", f"{SHOW}/alarms/studio.no_signal:alpha/ack", json={})
    assert status == 404 and "no alarm" in body["error"]


async def test_a_card_built_on_preview_goes_on_air_with_the_take(server: Server) -> None:
    await server.api("POST", f"{SHOW}/cut", json={"studio": "alpha"})
    await server.api("POST", f"{SHOW}/preview", json={"studio": "bravo"})
    status, body = await server.api("POST", f"{SHOW}/cards", json={"product": "soup", "preview": True})
    assert status == 200 and body["card"]["product"] == "soup" and body["card"]["price"] == 39.9
    _, state = await server.api("GET", SHOW)
    assert state["cards"] == [] and [c["product"] for c in state["preview_cards"]] == ["soup"]  # not on air yet
    # A live price change of a card waiting on preview needs the confirmation, as on air.
    status, body = await server.api("PATCH", f"{SHOW}/products/soup", json={"price": 29.9})
    assert status == 409, body
    await server.api("PATCH", f"{SHOW}/products/soup", json={"price": 29.9, "confirm_price": True})
    _, body = await server.api("POST", f"{SHOW}/take", json={"transition": "cut"})
    _, state = await server.api("GET", SHOW)
    assert state["program"] == "bravo" and state["preview_cards"] == []
    assert [(c["product"], c["price"]) for c in state["cards"]] == [("soup", 29.9)]
    _, events = await server.api("GET", f"{SHOW}/events")
    kinds = [e["kind"] for e in events["events"]]
    assert kinds.index("program.take") < kinds.index("card.shown"), kinds
    # Removing one from preview before the take: DELETE ?bus=preview.
    await server.api(
        "POST", f"{SHOW}/cards", json={"product": "soup", "slot": "tag1", "preview": True, "confirm_price": True}
    )
    status, _ = await server.api("DELETE", f"{SHOW}/cards/tag1?bus=preview")
    assert status == 200
    _, state = await server.api("GET", SHOW)
    assert state["preview_cards"] == [] and [c["slot"] for c in state["cards"]] == ["main"]
