"""The control page's program monitor with sound and its solo (PFL), in a real Chromium.

Two aiortc studios send tones; the page signs in as the director and must play the
program over WebRTC (video and audio frames decoded, an audio level above zero once the
sound is switched on with a real click), show a measured delay, solo a studio from its
audio strip (the solo stream decodes audio with a level), and close everything on the
server when the tab closes. When the server refuses WebRTC the page keeps the JPEG
monitor and says so. Screenshot: tests/artifacts/control-monitor.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.app import create_app
from orchestrator.appkeys import SHOWS
from tests import chromium
from tests.chromium import Chromium
from tests.conftest import OPERATOR, Server, make_config
from tests.test_control_page import ARTIFACTS, SHOW, click, open_control, sign_in
from tests.whipclient import AiortcPublisher

pytestmark = pytest.mark.skipif(not chromium.available(), reason="chromium is not installed")


@pytest.fixture
def browser_lang() -> str:
    return "zh-CN"  # for conftest's ``browser``


@pytest.fixture
async def served(tmp_path: Path, aiohttp_server: Any) -> tuple[Server, Any]:
    config = make_config(tmp_path)
    app = create_app(config)
    srv = await aiohttp_server(app, host="127.0.0.1")
    return Server.of(srv, config), app


async def test_monitor_plays_the_program_with_sound_and_a_measured_delay(
    served: tuple[Server, Any], browser: Chromium
) -> None:
    server, _ = served
    alpha = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "red", hz=440)
    bravo = AiortcPublisher(server.url, "test-show", "bravo", server.token("bravo"), "green", hz=1000)
    try:
        await alpha.start()
        await bravo.start()
        await server.wait_for(lambda s: all((st["stats"] or {}).get("audio_frames", 0) > 20 for st in s["studios"]))
        await server.api("POST", f"{SHOW}/cut", json={"studio": "alpha"})
        page = await open_control(browser, server)
        await sign_in(page, token=OPERATOR)
        await page.wait_for("controlPage.monitor && controlPage.monitor.mode === 'webrtc'", timeout=30)
        await click(page, "#pgm-sound")  # a real click: browsers play sound only after a gesture
        await page.wait_for(
            "(s => s.monitorVideoFrames > 30 && s.monitorAudioSamples > 48000 && s.monitorAudioLevel > 0.01)"
            "(controlPage.monitor.stats)",
            timeout=30,
        )
        await page.wait_for("controlPage.monitor.delayMs != null && controlPage.monitor.measurements > 20", timeout=20)
        mon = await page.evaluate("JSON.parse(JSON.stringify(controlPage.monitor))")
        info = await page.evaluate("document.getElementById('pgm-info').textContent")
        assert mon["sound"] and not await page.evaluate("document.getElementById('pgm-video').muted")
        # Program clock tick -> shown: positive (the page and server clocks agree), under 3 s even loaded;
        assert 0 < mon["delayMs"] < 3000, mon  # 20-21 ms seen on a quiet box
        assert f"{mon['delayMs']} ms" in info, info
        assert abs(mon["offsetMs"]) < 50 and mon["rttMs"] < 500, mon  # same machine: clocks agree
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(ARTIFACTS / "control-monitor.png")

        # Solo bravo (off air) from its audio strip: its own stream, the program unchanged.
        await click(page, ".tab[data-tab=audio]")
        await click(page, "#audio-strips .scard[data-studio=bravo] .solo")
        await page.wait_for(
            "controlPage.monitor.soloState === 'on' && (s => s.soloAudioSamples > 24000 && s.soloAudioLevel > 0.01)"
            "(controlPage.monitor.stats)",
            timeout=30,
        )
        assert await page.evaluate("document.getElementById('pgm-video').muted")  # the solo replaces it
        state = await server.wait_for(lambda s: s["crew"]["solo_streams"] == 1 and s["crew"]["monitors"] == 1)
        assert state["program"] == "alpha"
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(ARTIFACTS / "control-solo.png")

        # Closing the tab closes both streams on the server.
        await browser.close_page(page)
        await server.wait_for(lambda s: s["crew"]["solo_streams"] == 0 and s["crew"]["monitors"] == 0, timeout=40)
    finally:
        await alpha.stop()
        await bravo.stop()


async def test_monitor_falls_back_to_jpeg_when_webrtc_is_refused(served: tuple[Server, Any], browser: Chromium) -> None:
    server, app = served
    alpha = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "red", hz=440)
    try:
        await alpha.start()
        await server.api("POST", f"{SHOW}/cut", json={"studio": "alpha"})
        app[SHOWS]["test-show"].crew.monitor.max_viewers = 0  # every monitor offer gets 503
        page = await open_control(browser, server)
        await sign_in(page, token=OPERATOR)
        await page.wait_for("controlPage.monitor && controlPage.monitor.mode === 'jpeg'", timeout=20)
        note = await page.evaluate(
            "(e => !e.hidden && getComputedStyle(e).display !== 'none' && e.textContent)"
            "(document.getElementById('pgm-note'))"
        )
        assert note and "JPEG" in note and "503" in note, note
        # The JPEG monitor still shows the program.
        await page.wait_for("document.getElementById('pgm-img').classList.contains('has-frame')", timeout=20)
        assert "/multiview/program.mjpg" in await page.evaluate("document.getElementById('pgm-img').src")
        assert not await page.evaluate("document.getElementById('pgm-img').hidden")
        assert await page.evaluate("document.getElementById('pgm-video').hidden")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(ARTIFACTS / "control-monitor-fallback.png")
    finally:
        await alpha.stop()
