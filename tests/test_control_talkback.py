"""Talkback from the control page in a real (headless) Chromium with a fake microphone.

Only alpha is on air, so alpha's return feed (program minus alpha) is silent until the
director holds T: then it carries the control page's microphone (Chromium's fake beeps).
Letting go silences it again; closing the page ends the talkback on the server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.chromium import Chromium, Page
from tests.conftest import OPERATOR, Server
from tests.returnclient import Listener
from tests.test_control_page import open_control, sign_in
from tests.whipclient import AiortcPublisher

ARTIFACTS = Path(__file__).resolve().parent.parent / "var" / "test-artifacts"


@pytest.fixture
def show_outputs() -> dict[str, Any]:
    return {"hls": False, "flv": False}  # for conftest's ``server``: no files to write


async def _key_t(page: Page, kind: str) -> None:
    params: dict[str, Any] = {"key": "t", "code": "KeyT", "windowsVirtualKeyCode": 84, "nativeVirtualKeyCode": 84}
    extra = {"text": "t"} if kind == "keyDown" else {}
    await page.send("Input.dispatchKeyEvent", type=kind, **params, **extra)


async def _talkback_until(
    server: Server, done: Callable[[dict[str, Any]], bool], timeout: float, interval: float = 0.1
) -> dict[str, Any]:
    """The show's talkback status (``GET .../talkback``) once ``done`` says so of it, polled every
    ``interval`` s; TimeoutError after ``timeout`` s."""
    async with asyncio.timeout(timeout):
        while not done(status := (await server.api("GET", "/api/shows/test-show/talkback"))[1]):
            await asyncio.sleep(interval)
    return dict(status)


async def _window(settle: float, length: float) -> tuple[float, float]:
    """After ``settle`` seconds, ``length`` seconds of listening: their (start, end) monotonic times."""
    await asyncio.sleep(settle)
    start = time.monotonic()
    await asyncio.sleep(length)
    return start, time.monotonic()


def _rms(listener: Listener, since: float, until: float) -> float:
    parts = [c for t, c in listener.chunks if since <= t < until]
    if not parts:
        return 0.0
    x = np.concatenate(parts)
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


async def test_hold_t_to_talk_to_a_studio(server: Server, browser: Chromium) -> None:
    pub = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "red", hz=440)
    await pub.start()
    ret = Listener(f"{server.url}/return/test-show/alpha", server.token("alpha"), video=False)
    try:
        assert (await server.api("POST", "/api/shows/test-show/cut", json={"studio": "alpha"}))[0] == 200
        await ret.start()
        page = await open_control(browser, server)
        await sign_in(page, token=OPERATOR)
        await page.wait_for("!document.getElementById('talkback').hidden", timeout=5)
        await page.evaluate(
            "document.getElementById('talkback-target').value = 'alpha';"
            "document.getElementById('talkback-target').dispatchEvent(new Event('change'))"
        )
        t_quiet, t_press = await _window(1.5, 1.5)
        await _key_t(page, "keyDown")
        await page.wait_for("talkback.talking && talkback.conn === 'connected'", timeout=20)
        # The page shows ON at the press; the server hears of it a moment later.
        status = await _talkback_until(server, lambda s: bool(s["talking"]), timeout=10)
        assert status["talking"] == [{"operator": "director", "targets": ["alpha"]}], status
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(ARTIFACTS / "control-talkback.png")
        t_talk, t_end = await _window(1.0, 3.0)
        await _key_t(page, "keyUp")
        await page.wait_for("!talkback.talking", timeout=5)
        await _talkback_until(server, lambda s: not s["talkbacks_open"], timeout=5)
        quiet, talking = _rms(ret, t_quiet, t_press), _rms(ret, t_talk, t_end)
        # Program minus alpha is silence; the director's microphone is not.
        assert quiet < 30, (quiet, talking)
        assert talking > 100, (quiet, talking)
        await browser.close_page(page)
        await _talkback_until(server, lambda s: not s["talkbacks"], timeout=15, interval=0.2)
    finally:
        await ret.stop(server.url)
        await pub.stop()
