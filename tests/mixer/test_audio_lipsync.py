"""Lip sync through the whole chain: aiortc studio -> mixer -> x264/AAC -> HTTP-FLV, decoded.

The studio flashes white and beeps at the same instant every second (tests/flashbeep.py);
in the program, each beep must start close to its flash, also after switching away and back.
On a quiet machine the offset is a few ms (docs/BENCHMARKS.md); the limit here has room for a
loaded 2-core machine, where the test's own publisher is starved too (-73 ms median seen).
"""

from __future__ import annotations

import asyncio
import statistics

from tests.conftest import Server
from tests.flashbeep import flash_beep_publisher, measure_flash_beep
from tests.flvpull import record_flv
from tests.whipclient import AiortcPublisher

LIMIT = 0.120  # seconds


async def test_flash_and_beep_stay_in_sync_across_switches(server: Server) -> None:
    flashbeep = flash_beep_publisher(server.url, "test-show", "alpha", server.token("alpha"))
    other = AiortcPublisher(server.url, "test-show", "bravo", server.token("bravo"), "green")
    try:
        await flashbeep.start()
        await other.start()
        await server.wait_for(lambda s: all((st["stats"] or {}).get("video_frames", 0) > 30 for st in s["studios"]))
        assert (await server.api("POST", "/api/shows/test-show/cut", json={"studio": "alpha"}))[0] == 200
        await asyncio.sleep(1.5)  # let the first (cached) GOP be alpha's
        before = await record_flv(f"{server.url}/live/test-show.flv", 5.5)
        # Away and back: alpha's audio kept flowing off air, so it returns in sync.
        assert (await server.api("POST", "/api/shows/test-show/cut", json={"studio": "bravo"}))[0] == 200
        await asyncio.sleep(2.0)
        assert (await server.api("POST", "/api/shows/test-show/cut", json={"studio": "alpha"}))[0] == 200
        after = await record_flv(f"{server.url}/live/test-show.flv", 5.5)
        _, state = await server.api("GET", "/api/shows/test-show")
    finally:
        await flashbeep.stop()
        await other.stop()
    for name, data in (("before", before), ("after", after)):
        got = await asyncio.to_thread(measure_flash_beep, data)
        ms = [round(1000 * float(o), 1) for o in got.offsets]
        flashes = [round(f, 3) for f in got.flashes]
        print(f"{name}: flashes at {flashes} s, beep - flash {ms} ms; video delay {state['mixer']['video_delay_ms']}")
        assert len(got.offsets) >= 3, (got.flashes, got.beeps)
        assert abs(statistics.median(got.offsets)) <= LIMIT, ms
        # One beep of five may be late by a starved publisher (166 ms seen at load 10).
        assert all(abs(o) <= 2 * LIMIT for o in got.offsets), ms
