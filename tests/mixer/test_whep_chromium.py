"""A real browser watches the program over WHEP: headless Chromium decodes H.264 High and Opus.

The viewer page is served from another origin than the WHEP endpoint, so the
POST (and the DELETE, after its preflight) go through CORS with the Location
header exposed, as for a player embedded on a CDN's or a partner's page.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from tests import chromium
from tests.chromium import Chromium
from tests.conftest import Server
from tests.whepviewerpage import decoded_stats, hang_up, viewer_page_url, watch

pytestmark = pytest.mark.skipif(not chromium.available(), reason="chromium is not installed")


async def test_chromium_decodes_the_program_over_whep(server: Server, aiohttp_server: Any) -> None:
    viewer_page = await viewer_page_url(aiohttp_server)
    # Receive-only pages have no camera permission: without this Chromium hides its
    # addresses behind mDNS names, which nothing resolves inside the test's namespace.
    flags = ("--disable-features=WebRtcHideLocalIpsWithMdns",)
    async with Chromium(extra_flags=flags) as browser:
        page = await browser.open(viewer_page)
        result = await watch(page, server)
        assert result["location"].startswith("/whep/test-show/")  # readable: Location is exposed
        answer = result["answer"]
        got = await decoded_stats(page, "totalSamplesReceived > 48000", connect_s=15, decode_s=20)
        _, state = await server.api("GET", "/api/shows/test-show")
        status = await hang_up(page, server)
        assert status == 200
    video, audio, codecs = got["video"], got["audio"], got["codecs"]
    assert (video["frameWidth"], video["frameHeight"]) == (640, 360)
    # A stream Chromium cannot decode drops most frames; a loaded box's renderer drops a few late ones.
    dropped = video.get("framesDropped", 0)
    assert video["keyFramesDecoded"] >= 1 and dropped < max(10, 0.2 * video["framesDecoded"]), video
    vcodec = codecs[video["codecId"]]
    assert vcodec["mimeType"] == "video/H264"
    # Chromium 156 offers no plain High (64): High 4:4:4 Predictive (f4), whose decoders must decode High.
    assert re.search(r"profile-level-id=(64|f4)", vcodec["sdpFmtpLine"]), vcodec
    assert "packetization-mode=1" in vcodec["sdpFmtpLine"]
    assert re.search(r"profile-level-id=(64|f4)001e", answer)  # the encoder's level (3.0 at 640x360)
    assert codecs[audio["codecId"]]["mimeType"] == "audio/opus"
    assert state["outputs"]["whep"]["connected_viewers"] == 1
    await server.wait_for(lambda s: s["outputs"]["whep"]["viewers"] == 0, timeout=10)
    await asyncio.sleep(0)
