"""Players read the timed metadata: hls.js (ID3 samples from FRAG_PARSING_METADATA and the
playlist's date ranges) and mpegts.js (SCRIPTDATA_ARRIVED for the onCuePoint tags) in headless
Chromium, playing the real outputs while the crew puts a card on air and takes it off.

The players come from npm (tests/players/package.json, installed by scripts/setup.sh)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests import chromium
from tests.conftest import Server
from tests.whipclient import AiortcPublisher

PLAYERS = Path(__file__).resolve().parent.parent / "players" / "node_modules"
HLS_JS = PLAYERS / "hls.js" / "dist" / "hls.min.js"
MPEGTS_JS = PLAYERS / "mpegts.js" / "dist" / "mpegts.js"

pytestmark = [
    pytest.mark.skipif(not chromium.available(), reason="chromium is not installed"),
    pytest.mark.skipif(not (HLS_JS.exists() and MPEGTS_JS.exists()), reason="run scripts/setup.sh (npm players)"),
]

BASE = "/api/shows/test-show"

PAGE = """<!doctype html><meta charset="utf-8"><body>
<video id="hls" muted autoplay playsinline></video><video id="flv" muted autoplay playsinline></video>
<script src="/hls.js"></script><script src="/mpegts.js"></script>
<script>
window.got = {id3: [], dateranges: {}, flv: [], errors: []};
const origin = new URLSearchParams(location.search).get("origin");
const text = (bytes) => new TextDecoder().decode(bytes);
// hls.js: every ID3 sample of every fragment; our cue is the JSON after "broadcast.cue\\0".
const hls = new Hls({lowLatencyMode: false, liveSyncDurationCount: 2});
hls.on(Hls.Events.FRAG_PARSING_METADATA, (_, data) => {
  for (const s of data.samples) {
    const t = text(s.data); const at = t.indexOf("{");
    if (at >= 0) window.got.id3.push({pts: s.pts, cue: JSON.parse(t.slice(at))});
  }
});
hls.on(Hls.Events.LEVEL_UPDATED, (_, data) => {
  for (const [id, range] of Object.entries(data.details.dateRanges || {})) {
    window.got.dateranges[id] = {start: range.startDate.getTime(), event: range.attr["X-EVENT"], cls: range.class};
  }
});
hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) window.got.errors.push("hls " + data.details); });
hls.loadSource(origin + "/live/test-show/index.m3u8");
hls.attachMedia(document.getElementById("hls"));
// mpegts.js: script data tags other than onMetaData.
const player = mpegts.createPlayer({type: "flv", isLive: true, url: origin + "/live/test-show.flv"});
player.on(mpegts.Events.SCRIPTDATA_ARRIVED, (data) => {
  const cue = data.onCuePoint;
  if (cue) window.got.flv.push({name: cue.name, time: cue.time, cue: JSON.parse(cue.parameters.json)});
});
player.on(mpegts.Events.ERROR, (type, detail) => window.got.errors.push("flv " + type + " " + detail));
player.attachMediaElement(document.getElementById("flv"));
player.load(); player.play();
</script>"""


async def test_hls_js_and_mpegts_js_read_the_cues(server: Server, aiohttp_server: Any) -> None:
    pages = web.Application()
    pages.router.add_get("/", lambda _: web.Response(text=PAGE, content_type="text/html"))
    pages.router.add_get("/hls.js", lambda _: web.FileResponse(HLS_JS))
    pages.router.add_get("/mpegts.js", lambda _: web.FileResponse(MPEGTS_JS))
    page_server = await aiohttp_server(pages, host="127.0.0.1")
    publisher = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "green")
    try:
        await server.go_live(publisher)
        async with chromium.Chromium() as browser:
            page = await browser.open(f"{page_server.make_url('/')}?origin={server.url}")
            # Both players running (the FLV one shows frames; hls.js has loaded a level).
            await page.wait_for("document.getElementById('flv').currentTime > 0.5", timeout=30)
            await page.wait_for("document.getElementById('hls').currentTime > 0.2", timeout=40)
            status, body = await server.api("POST", f"{BASE}/cards", json={"product": "soup", "slot": "main"})
            assert status == 200, body
            await asyncio.sleep(1.5)
            assert (await server.api("DELETE", f"{BASE}/cards/main"))[0] == 200
            done = (
                "window.got.flv.length >= 2 && window.got.id3.length >= 2"
                " && Object.keys(window.got.dateranges).length >= 2"
            )
            try:
                await page.wait_for(done, timeout=30)
            finally:
                got = json.loads(await page.evaluate("JSON.stringify(window.got)"))
    finally:
        await publisher.stop()
    assert not got["errors"], got["errors"]
    flv_events = [c["cue"]["event"] for c in got["flv"]]
    assert flv_events[-2:] == ["card.shown", "card.hidden"], got["flv"]
    assert got["flv"][-2]["name"] == "card.shown" and got["flv"][-2]["cue"]["product"]["id"] == "soup"
    id3 = [c["cue"] for c in got["id3"]]
    assert [c["event"] for c in id3][-2:] == ["card.shown", "card.hidden"], got["id3"]
    # The same cue in both players, and the date range's start is the cue's program date time.
    shown = id3[-2]
    assert shown["id"] == got["flv"][-2]["cue"]["id"]
    ranges = got["dateranges"]
    assert ranges[shown["id"]]["event"] == "card.shown" and ranges[shown["id"]]["cls"] == "broadcast.cue"
    pdt = datetime.fromisoformat(shown["program_date_time"].replace("Z", "+00:00")).timestamp()
    assert abs(ranges[shown["id"]]["start"] / 1000 - pdt) < 0.002
