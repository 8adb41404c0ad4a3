"""The control page after the server closed its socket, in a real (headless) Chromium.

The server closes a page that fell too far behind (1013, orchestrator/livestate.py); the page
reconnects, and a new socket only sends the events newer than its connection. The events
recorded while the page was away reach its log only because it reloads the log on
reconnecting (control.js ``onopen``).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from orchestrator.appkeys import SHOWS
from orchestrator.views.control import CONTROL_SOCKETS, LIVE_STATES
from tests import chromium
from tests.chromium import Chromium
from tests.conftest import OPERATOR, Server
from tests.test_control_page import SHOW, open_control, sign_in

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
