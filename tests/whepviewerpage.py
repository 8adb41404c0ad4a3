"""A WHEP viewer web page, as a player embedded on a CDN's or a partner's page: what the browser tests load.

It is served from another origin than the WHEP endpoint (:func:`viewer_page_url`), so the POST
(and the DELETE, after its preflight) go through CORS.  The page defines ``watch(url)``
(offer without trickle, POST, answer), ``stats()`` (JSON of the inbound RTP and codec stats)
and ``hangUp(base)`` (DELETE of the session's Location).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from aiohttp import web

from tests.conftest import Server


class ScriptedPage(Protocol):
    """A browser page (tests/chromium.py or tests/firefox.py) that runs script."""

    async def evaluate(self, expression: str, timeout: float = 30) -> Any: ...

    async def wait_for(self, expression: str, timeout: float = 15, interval: float = 0.05) -> Any: ...


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


async def viewer_page_url(aiohttp_server: Any) -> str:
    """The URL of :data:`VIEWER_PAGE`, served on 127.0.0.1 by a server of its own (another origin)."""

    async def viewer(_: web.Request) -> web.Response:
        return web.Response(text=VIEWER_PAGE, content_type="text/html")

    pages = web.Application()
    pages.router.add_get("/viewer.html", viewer)
    page_server = await aiohttp_server(pages, host="127.0.0.1")
    return str(page_server.make_url("/viewer.html"))


async def watch(page: ScriptedPage, server: Server) -> dict[str, Any]:
    """The loaded page's ``watch()`` of the test show's WHEP endpoint: its result (``status`` 201,
    ``answer``: the SDP answer, ``location``); AssertionError on another status."""
    await page.wait_for("typeof watch === 'function'")
    result: dict[str, Any] = await page.evaluate(f"watch({json.dumps(server.url + '/whep/test-show')})", timeout=20)
    assert result["status"] == 201, result
    return result


async def decoded_stats(page: ScriptedPage, audio: str, connect_s: float, decode_s: float) -> dict[str, Any]:
    """The page's stats (``video``, ``audio``: inbound RTP; ``codecs`` by id) once it is connected
    (within ``connect_s`` seconds) and has decoded more than 90 video frames and its audio stats
    meet ``audio`` (a JS condition on them, e.g. ``"packetsReceived > 100"``) within ``decode_s``."""
    await page.wait_for("result.state === 'connected'", timeout=connect_s)
    await page.wait_for(
        "stats().then(s => JSON.parse(s)).then(s => s.video && s.video.framesDecoded > 90"
        f" && s.audio && s.audio.{audio})",
        timeout=decode_s,
    )
    return dict(json.loads(await page.evaluate("stats()")))


async def hang_up(page: ScriptedPage, server: Server) -> int:
    """The page's DELETE of its WHEP session: the HTTP status."""
    return int(await page.evaluate(f"hangUp({json.dumps(server.url)})"))
