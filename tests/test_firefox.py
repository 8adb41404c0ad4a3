"""Firefox ESR as a real client: it watches the program over WHEP and it hosts from the join page.

Firefox here has no OpenH264, so it offers VP8/VP9/AV1 only: as a WHEP viewer it
gets the show's shared VP8 encode (it used to get a 400), and as a host it sends
VP8, which the server decodes and puts on program.  Firefox is driven over its
own WebDriver BiDi (tests/firefox.py).  Inside a loopback-only namespace it
gathers no ICE candidate unless the namespace has a default route
(``ip route add default dev lo src 127.0.0.1``: scripts/loopback-net.sh).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest

from tests import firefox
from tests.conftest import Server
from tests.firefox import Firefox
from tests.mixer.test_whep import WhepClient, _wait
from tests.whepviewerpage import decoded_stats, hang_up, viewer_page_url, watch
from tests.whipclient import AiortcPublisher

pytestmark = [
    pytest.mark.skipif(not firefox.available(), reason="firefox-esr is not installed (scripts/setup.sh)"),
    pytest.mark.skipif(
        not firefox.ice_route(),
        reason="Firefox gathers no ICE candidate without a default route: run in a namespace set up by "
        "scripts/loopback-net.sh (scripts/test.sh does)",
    ),
]


# The centre of the picture as the page's <video> shows it (a canvas read-back).
CENTRE_RGB = """(() => {
  const v = document.getElementById("v");
  if (!v.videoWidth) return null;
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext("2d");
  g.drawImage(v, 0, 0);
  return Array.from(g.getImageData(c.width / 2 - 4, c.height / 2 - 4, 8, 8).data.slice(0, 3));
})()"""


async def test_firefox_watches_the_program_over_whep(server: Server, aiohttp_server: Any) -> None:
    viewer_page = await viewer_page_url(aiohttp_server)
    publisher = AiortcPublisher(server.url, "test-show", "bravo", server.token("bravo"), "green")
    try:
        await server.go_live(publisher, "bravo")
        async with Firefox() as browser:
            page = await browser.open(viewer_page)
            result = await watch(page, server)
            answer = result["answer"]
            got = await decoded_stats(page, "packetsReceived > 100", connect_s=20, decode_s=30)
            centre = await page.wait_for(CENTRE_RGB, timeout=10)
            _, state = await server.api("GET", "/api/shows/test-show")
            status = await hang_up(page, server)
            assert status == 200
    finally:
        await publisher.stop()
    video, codecs = got["video"], got["codecs"]
    assert (video["frameWidth"], video["frameHeight"]) == (640, 360)
    assert video["keyFramesDecoded"] >= 1
    assert codecs[video["codecId"]]["mimeType"].lower() == "video/vp8"
    assert "VP8/90000" in answer and "H264" not in answer
    r, g, b = centre
    assert g > 150 and r < 100 and b < 100, centre  # the green studio on air, decoded by Firefox
    whep = state["outputs"]["whep"]
    assert [e["codec"] for e in whep["encodes"]] == ["vp8"]
    assert [v["codec"] for v in whep["viewer_list"]] == ["vp8"]
    # The viewer left: its VP8 encode stops.
    await server.wait_for(lambda s: not s["outputs"]["whep"]["encodes"] and s["outputs"]["whep"]["viewers"] == 0)


async def test_firefox_hosts_from_the_join_page_and_goes_on_program(server: Server) -> None:
    viewer = WhepClient(f"{server.url}/whep/test-show")
    async with Firefox() as browser:
        page = await browser.open(f"{server.url}/join/{server.token('alpha')}")
        await page.wait_for("window.hostPage && document.getElementById('self').videoWidth > 0", timeout=30)
        await page.evaluate("document.getElementById('join').click()")
        await page.wait_for("hostPage.conn === 'connected'", timeout=30)

        def alpha(s: dict[str, Any]) -> dict[str, Any]:
            return next(st for st in s["studios"] if st["id"] == "alpha")["stats"] or {}

        state = await server.wait_for(lambda s: alpha(s).get("video_frames", 0) > 60, timeout=30)
        stats = alpha(state)
        assert "vp8" in str(stats.get("codec", "")).lower(), stats  # no OpenH264 here: Firefox sends VP8
        print(f"\nfirefox host off air: {stats.get('resolution')} {stats.get('fps')} fps")
        try:
            await viewer.start()
            await _wait(lambda: len(viewer.video) >= 30, 15, "the program over WHEP")
            status, _ = await server.api("POST", "/api/shows/test-show/cut", json={"studio": "alpha"})
            assert status == 200
            await server.wait_for(lambda s: s["on_air"] == "alpha")
            # On program the page asks for full quality (off air it sends 320x180 at 15 fps).
            full = await server.wait_for(
                lambda s: int(str(alpha(s).get("resolution") or "0x0").split("x")[1]) >= 360, timeout=20
            )
            print(f"firefox on program: {alpha(full).get('resolution')} {alpha(full).get('fps')} fps")
            cut_at = time.monotonic()
            frames = len(viewer.video)
            await _wait(lambda: len(viewer.video) >= frames + 60, 15, "program frames after the cut")
            await asyncio.sleep(1.0)
            state = await server.wait_for(lambda s: True)
        finally:
            await viewer.stop(server.url)
    # Still on air (no fallback: Firefox kept delivering), and the decoded frames keep coming.
    assert state["on_air"] == "alpha"
    assert alpha(state)["video_frames"] > stats["video_frames"] + 30
    # Firefox's fake camera, not the slate: the program picture changed at the cut.
    before = [(y, c) for t, y, c in viewer.means if t < cut_at]
    after = [(y, c) for t, y, c in viewer.means if t > cut_at + 0.5]
    assert before and after
    print(f"\nprogram before the cut {np.mean(before, axis=0)}, after {np.mean(after, axis=0)}")
    assert np.abs(np.mean(after, axis=0) - np.mean(before, axis=0)).max() > 10, (before[-3:], after[:3])
