"""Operators, roles, sessions and what the control page streams."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from orchestrator.config import Operator
from orchestrator.views import control as control_view
from tests.auditevents import commands
from tests.conftest import OPERATOR, Server, make_config, serve
from tests.whipclient import AiortcPublisher


@pytest.fixture
async def crew(tmp_path: Path, aiohttp_server: Any) -> Server:
    config = make_config(tmp_path)
    operators = (
        Operator("liu", "director", password="director-password"),
        Operator("chen", "producer", token="producer-token-123"),
    )
    config = dataclasses.replace(config, server=dataclasses.replace(config.server, operators=operators))
    return await serve(aiohttp_server, config)


async def _status(http: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> int:
    async with http.request(method, url, **kw) as res:
        await res.read()
        return res.status


async def test_password_login_sets_a_cookie_that_works_until_logout(crew: Server) -> None:
    # unsafe: aiohttp's jar otherwise ignores cookies from IP-address hosts (browsers keep them).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert await _status(http, "GET", crew.url + "/api/me") == 401
        bad = {"name": "liu", "password": "wrong-password"}
        assert await _status(http, "POST", crew.url + "/api/login", json=bad) == 401
        assert await _status(http, "POST", crew.url + "/api/login", json={"name": 5}) == 400
        async with http.post(crew.url + "/api/login", json={"name": "liu", "password": "director-password"}) as res:
            assert res.status == 200 and (await res.json())["role"] == "director"
            cookie = res.cookies["broadcast_session"]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
        async with http.get(crew.url + "/api/me") as res:
            assert (await res.json()) == {"name": "liu", "role": "director"}
        assert await _status(http, "POST", crew.url + "/api/shows/test-show/cut", json={"studio": "alpha"}) == 200
        assert await _status(http, "POST", crew.url + "/api/logout") == 200
        assert await _status(http, "GET", crew.url + "/api/me") == 401
    # The cut is in the audit trail with the person who did it (the newest command: the system may
    # write an alarm or an output's change after it at any time).
    _, events = await crew.api("GET", "/api/shows/test-show/events")
    assert [(e["kind"], e["actor"]) for e in commands(events["events"])][-1] == ("program.cut", "liu")


async def test_a_forged_cookie_is_refused(crew: Server) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        http.cookie_jar.update_cookies(
            {"broadcast_session": "eyJuIjoibGl1IiwiciI6ImRpcmVjdG9yIiwiZXhwIjo5OTk5OTk5OTk5fQ.AAAA"}
        )
        assert await _status(http, "GET", crew.url + "/api/me") == 401


async def test_producer_runs_cards_and_cues_but_not_the_switcher(crew: Server) -> None:
    producer = {"Authorization": "Bearer producer-token-123"}
    base = crew.url + "/api/shows/test-show"
    async with aiohttp.ClientSession(headers=producer) as http:
        assert await _status(http, "GET", base) == 200
        assert await _status(http, "POST", base + "/cards", json={"product": "soup"}) == 200
        assert await _status(http, "DELETE", base + "/cards/main") == 200
        assert await _status(http, "POST", base + "/studios/alpha/cue", json={"message": "准备"}) == 200
        for path, body in [("/cut", {"studio": "alpha"}), ("/take", {"transition": "cut"}), ("/panic", {}),
                           ("/preview", {"studio": "bravo"})]:  # fmt: skip
            assert await _status(http, "POST", base + path, json=body) == 403, path
    # A studio's join token never opens the operator API.
    join = {"Authorization": f"Bearer {crew.token('alpha')}"}
    async with aiohttp.ClientSession(headers=join) as http:
        assert await _status(http, "GET", base) == 401


async def test_websocket_pushes_changes_and_events_to_every_page(crew: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # No timed refresh within the test: a state that arrives at all was pushed (a time bound
    # under the 1 s refresh failed on a loaded box).
    monkeypatch.setattr(control_view, "STATE_EVERY_S", 60.0)
    headers = {"Authorization": f"Bearer {OPERATOR}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(crew.url + "/api/shows/test-show/ws", headers={"Origin": "http://evil.example"})
        assert refused.value.status == 403
    async with aiohttp.ClientSession(headers=headers) as one, aiohttp.ClientSession(headers=headers) as two:
        ws1 = await one.ws_connect(crew.url + "/api/shows/test-show/ws")
        ws2 = await two.ws_connect(crew.url + "/api/shows/test-show/ws")
        for ws in (ws1, ws2):
            first = await ws.receive_json(timeout=5)
            assert first["type"] == "state" and first["state"]["program"] is None
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert (await crew.api("POST", "/api/shows/test-show/cut", json={"studio": "bravo"}))[0] == 200
        for ws in (ws1, ws2):
            seen_state = seen_event = False
            while not (seen_state and seen_event):
                msg = await ws.receive_json(timeout=5)
                if msg["type"] == "state" and msg["state"]["program"] == "bravo":
                    seen_state = True
                    assert loop.time() - t0 < 10  # pushed, not waiting for the (60 s) refresh
                if msg["type"] == "event" and msg["event"]["kind"] == "program.cut":
                    seen_event = True
        await ws1.close()
        await ws2.close()


async def test_events_export_as_csv(crew: Server) -> None:
    await crew.api("POST", "/api/shows/test-show/cards", json={"product": "soup"})
    await crew.api("DELETE", "/api/shows/test-show/cards/main")
    async with (
        aiohttp.ClientSession(headers=crew.auth) as http,
        http.get(crew.url + "/api/shows/test-show/events.csv") as res,
    ):
        assert res.status == 200 and res.content_type == "text/csv"
        text = (await res.read()).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    shown = [r for r in rows if r["kind"] == "card.shown"]
    assert shown and shown[0]["product"] == "soup" and shown[0]["price"] == "39.9"
    assert [r for r in rows if r["kind"] == "card.hidden"][0]["on_air_s"] != ""
    # Times in the show's zone (default Asia/Shanghai), with the offset so nobody has to guess.
    assert all(r["time"].endswith("+08:00") for r in rows), rows[0]["time"]


async def test_multiview_previews_a_live_studio_and_the_program(crew: Server) -> None:
    publisher = AiortcPublisher(crew.url, "test-show", "alpha", crew.token("alpha"), "red")
    await publisher.start()
    try:
        await crew.api("POST", "/api/shows/test-show/cut", json={"studio": "alpha"})
        async with aiohttp.ClientSession(headers=crew.auth) as http:
            for source in ("alpha", "program"):
                for _ in range(50):
                    async with http.get(f"{crew.url}/api/shows/test-show/multiview/{source}.jpg") as res:
                        if res.status == 200:
                            body = await res.read()
                            break
                    await asyncio.sleep(0.2)
                assert body[:2] == b"\xff\xd8", source
            assert await _status(http, "GET", crew.url + "/api/shows/test-show/multiview/zulu.jpg") == 404
            async with http.get(crew.url + "/api/shows/test-show/multiview/alpha.mjpg") as res:
                assert res.content_type == "multipart/x-mixed-replace"
                data = b""
                while data.count(b"--frame") < 3:
                    data += await asyncio.wait_for(res.content.readany(), 5)
    finally:
        await publisher.stop()
