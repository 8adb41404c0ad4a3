"""A real browser watches the program over WHEP: headless Chromium decodes H.264 High and Opus.

The viewer page is served from another origin than the WHEP endpoint, so the
POST (and the DELETE, after its preflight) go through CORS with the Location
header exposed, as for a player embedded on a CDN's or a partner's page.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from aiohttp import web

from tests import chromium
from tests.chromium import Chromium
from tests.conftest import Server

pytestmark = pytest.mark.skipif(not chromium.available(), reason="chromium is not installed")

VIEWER_PAGE = """<!doctype html><meta charset=utf-8><title>WHEP viewer</title>
<video id=v autoplay muted playsinline></video>
<script>
window.result = {state: "new"};
async function watch(url) {
  const pc = window.pc = new RTCPeerConnection();
  pc.addTransceiver("video", {direction: "recvonly"});
  pc.addTransceiver("audio", {direction: "recvonly"});
  const stream = new MediaStream();
  document.getElementById("v").srcObject = stream;
  pc.ontrack = e => stream.addTrack(e.track);
  pc.onconnectionstatechange = () => { result.state = pc.connectionState; };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(done => {  // no trickle: send the offer with all candidates
    if (pc.iceGatheringState === "complete") return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
    setTimeout(done, 3000);
  });
  const res = await fetch(url, {method: "POST", headers: {"Content-Type": "application/sdp"},
                                body: pc.localDescription.sdp});
  result.status = res.status;
  result.location = res.headers.get("Location");
  const answer = result.answer = await res.text();
  if (res.status !== 201) { result.error = answer; return result; }
  await pc.setRemoteDescription({type: "answer", sdp: answer});
  return result;
}
async function stats() {
  const out = {codecs: {}};
  (await pc.getStats()).forEach(s => {
    if (s.type === "inbound-rtp") out[s.kind] = s;
    if (s.type === "codec") out.codecs[s.id] = s;
  });
  return JSON.stringify(out);
}
async function hangUp(base) {
  const res = await fetch(new URL(result.location, base), {method: "DELETE"});
  pc.close();
  return res.status;
}
</script>
"""


async def test_chromium_decodes_the_program_over_whep(server: Server, aiohttp_server: Any) -> None:
    pages = web.Application()
    pages.router.add_get("/viewer.html", lambda _: web.Response(text=VIEWER_PAGE, content_type="text/html"))
    page_server = await aiohttp_server(pages, host="127.0.0.1")
    # Receive-only pages have no camera permission: without this Chromium hides its
    # addresses behind mDNS names, which nothing resolves inside the test's namespace.
    flags = ("--disable-features=WebRtcHideLocalIpsWithMdns",)
    async with Chromium(extra_flags=flags) as browser:
        page = await browser.open(str(page_server.make_url("/viewer.html")))
        await page.wait_for("typeof watch === 'function'")
        result = await page.evaluate(f"watch({json.dumps(server.url + '/whep/test-show')})", timeout=20)
        assert result["status"] == 201, result
        assert result["location"].startswith("/whep/test-show/")  # readable: Location is exposed
        answer = result["answer"]
        await page.wait_for("result.state === 'connected'", timeout=15)
        await page.wait_for(
            "stats().then(s => JSON.parse(s)).then(s => s.video && s.video.framesDecoded > 90"
            " && s.audio && s.audio.totalSamplesReceived > 48000)",
            timeout=20,
        )
        got = json.loads(await page.evaluate("stats()"))
        _, state = await server.api("GET", "/api/shows/test-show")
        status = await page.evaluate(f"hangUp({json.dumps(server.url)})")
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
