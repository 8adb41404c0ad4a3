"""The control page when its connection to the server breaks, in a real (headless) Chromium.

- The server closes a page that fell too far behind (1013, orchestrator/livestate.py); the page
  reconnects, and a new socket only sends the events newer than its connection. The events
  recorded while the page was away reach its log only because it reloads the log on
  reconnecting (control.js ``onopen``).
- The server goes away: a trial found the page looking like a healthy live show (ON AIR, 30 fps,
  every studio online) with only a small amber pill saying otherwise. It now says the connection
  is lost and since when, greys what is no longer live, and is live again once the server is back.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.app import create_app
from orchestrator.appkeys import SHOWS
from orchestrator.views.control import CONTROL_SOCKETS, LIVE_STATES
from tests import chromium
from tests.chromium import Chromium
from tests.conftest import OPERATOR, Server, make_config
from tests.test_control_page import ARTIFACTS, SHOW, open_control, sign_in

pytestmark = pytest.mark.skipif(not chromium.available(), reason="chromium is not installed")


async def test_a_page_closed_by_the_server_reloads_the_events_it_missed(server: Server, browser: Chromium) -> None:
    assert server.app is not None
    sockets = server.app[CONTROL_SOCKETS]
    lives, runner = server.app[LIVE_STATES], server.app[SHOWS]["test-show"]
    page = await open_control(browser, server)
    await sign_in(page, token=OPERATOR)
    # The cue must be stored while no socket of the page exists: a socket opened after it starts
    # past it. The page's reconnect waits 0.4-0.6 s; should it win the race, close it again.
    for attempt in range(5):
        async with asyncio.timeout(15):  # the page's socket has joined the show's live state
            while (live := lives.of(runner)) is None or len(live.pages) != 1:
                await asyncio.sleep(0.01)
        assert len(sockets) == 1
        for live_page in live.pages:
            live_page.behind.set()  # as when the page's queue overflows: the server closes it
        async with asyncio.timeout(15):
            while sockets:
                await asyncio.sleep(0.01)
        message = f"probe {attempt}: sent while the page was away"
        status, body = await server.api("POST", f"{SHOW}/studios/alpha/cue", json={"message": message})
        assert status == 200, body
        away = not sockets  # no socket has read its starting point yet
        probe = f"controlPage.events.some((e) => JSON.stringify(e).includes({json.dumps(message)}))"
        await page.wait_for(f"controlPage.wsOpen && {probe}", timeout=20)
        if away:
            break
    else:
        pytest.fail("the page reconnected before the cue was stored five times in a row")
    shown = await page.evaluate("document.getElementById('log').textContent")
    assert message in shown, shown


LOST = "document.getElementById('lost')"
WEBRTC_MONITOR = "controlPage.monitor && controlPage.monitor.mode === 'webrtc'"


async def test_a_page_says_when_the_server_stops_answering_and_is_live_again_when_it_is_back(
    tmp_path: Path, aiohttp_server: Any, browser: Chromium
) -> None:
    config = make_config(tmp_path)
    first = await aiohttp_server(create_app(config), host="127.0.0.1")
    page = await open_control(browser, Server.of(first, config))
    await sign_in(page, token=OPERATOR)
    assert await page.evaluate(f"{LOST}.hidden && !document.body.classList.contains('stale')")
    await page.wait_for(WEBRTC_MONITOR, timeout=30)
    port = first.port
    await first.close()  # the server is gone: its socket closes and every poll fails
    await page.wait_for(f"!{LOST}.hidden && document.body.classList.contains('stale')", timeout=30)
    said = await page.evaluate(f"{LOST}.textContent")
    assert "Connection to the server lost since" in said, said
    await page.screenshot(ARTIFACTS / "control-lost.png")
    second = await aiohttp_server(create_app(config), host="127.0.0.1", port=port)  # back (a restart)
    live = f"{LOST}.hidden && !document.body.classList.contains('stale') && controlPage.wsOpen"
    await page.wait_for(live, timeout=30)
    assert await page.evaluate("controlPage.me !== null"), "the session cookie outlives the restart"
    # The program monitor's WebRTC connection went with the old process: a new one, now rather than
    # at the end of its 30 s retry (RETRY_MS in monitor.js).
    await page.wait_for(f"{WEBRTC_MONITOR} && controlPage.monitor.attempts >= 2", timeout=20)
    await second.close()
