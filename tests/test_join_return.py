"""The join page plays the return feed: a real (headless) Chromium host with a fake camera.

An aiortc publisher (bravo, 1000 Hz) is on air; the Chromium host (alpha) joins, and its
page opens the return feed by itself: its getStats must show program audio and pictures
received and decoded, the volume slider and mute must work, and a talkback to alpha must
show the operator's name on the page.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.chromium import Chromium
from tests.conftest import Server
from tests.returnclient import Talker
from tests.test_control_page import fill
from tests.whipclient import AiortcPublisher, ToneTrack

ARTIFACTS = Path(__file__).resolve().parent.parent / "var" / "test-artifacts"

RECEIVED = """(async () => {
  const report = await returnFeed.stats();
  const out = { audio: 0, audioSamples: 0, video: 0, width: 0, audioBufferMs: null };
  if (!report) return out;
  report.forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    if (s.kind === "audio") {
      out.audio = s.packetsReceived || 0; out.audioSamples = s.totalSamplesReceived || 0;
      if (s.jitterBufferEmittedCount) out.audioBufferMs = 1000 * s.jitterBufferDelay / s.jitterBufferEmittedCount;
    }
    if (s.kind === "video") { out.video = s.framesDecoded || 0; out.width = s.frameWidth || 0; }
  });
  return out;
})()"""


@pytest.fixture
def show_outputs() -> dict[str, Any]:
    return {"hls": False, "flv": False}  # for conftest's ``server``: no files to write


async def test_join_page_plays_the_return_feed(server: Server, browser: Chromium) -> None:
    pub = AiortcPublisher(server.url, "test-show", "bravo", server.token("bravo"), "blue", hz=1000)
    await pub.start()
    talker = Talker(server.url, "test-show", server.auth, ToneTrack(2000))
    try:
        assert (await server.api("POST", "/api/shows/test-show/cut", json={"studio": "bravo"}))[0] == 200
        page = await browser.open(f"{server.url}/join/{server.token('alpha')}")
        await page.set_viewport(420, 1100, mobile=True, scale=2)
        await page.wait_for("window.hostPage && document.getElementById('self').videoWidth > 0", timeout=20)
        assert await page.evaluate("document.getElementById('return').hidden")  # not before joining
        await page.evaluate("document.getElementById('join').click()")
        await page.wait_for("hostPage.conn === 'connected' && returnFeed.state.conn === 'connected'", timeout=30)
        # 2 s of program sound (48 kHz) and 30 pictures at the return size, decoded by the page.
        async with asyncio.timeout(20):
            while True:
                got = await page.evaluate(RECEIVED)
                if got["audioSamples"] > 96_000 and got["video"] > 30:
                    break
                await asyncio.sleep(0.3)
        assert got["width"] == 480, got
        # The ear's own buffer (Chromium's NetEq) on this return, for docs/BENCHMARKS.md.
        print(f"\nChromium's audio jitter buffer on the return feed: {got['audioBufferMs']:.0f} ms (mean)")
        assert await page.evaluate("document.querySelector('.return-picture').videoWidth") == 480
        assert "headphones" in await page.evaluate("document.querySelector('.return-note').textContent")
        # The host's own controls: volume and mute act on the return's sound.
        await fill(page, ".return-volume", "0.3")
        assert await page.evaluate("document.querySelector('.return-picture').volume") == pytest.approx(0.3)
        await page.evaluate("document.querySelector('.return-mute').click()")
        assert await page.evaluate("document.querySelector('.return-picture').muted")
        await page.evaluate("document.querySelector('.return-mute').click()")
        assert not await page.evaluate("document.querySelector('.return-picture').muted")
        _, status = await server.api("GET", "/api/shows/test-show/talkback")
        assert status["return_studios"] == ["alpha"], status
        # Talkback to alpha: the page names who is talking.
        await talker.start()
        assert (await talker.key(True, ["alpha"]))[0] == 200
        await page.wait_for("returnFeed.state.talkback.length === 1", timeout=10)
        text = await page.evaluate("document.querySelector('.return-talkback').textContent")
        assert "director" in text and "talking" in text, text
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(ARTIFACTS / "join-return-talkback.png", full_page=True)
        assert (await talker.key(False))[0] == 200
        await page.wait_for("returnFeed.state.talkback.length === 0", timeout=10)
        # Leaving closes the return feed on the server.
        await page.evaluate("window.confirm = () => true")
        await page.evaluate("document.getElementById('leave').click()")
        async with asyncio.timeout(10):
            while (await server.api("GET", "/api/shows/test-show/talkback"))[1]["returns"]:
                await asyncio.sleep(0.1)
    finally:
        await talker.stop()
        await pub.stop()
