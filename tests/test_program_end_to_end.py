"""Two real WHIP publishers (FFmpeg's muxer and aiortc) into one show; the
program follows the cuts, and the HLS and FLV outputs decode cleanly."""

from __future__ import annotations

import asyncio

from tests.conftest import Server
from tests.flvpull import FlvPull
from tests.mediacheck import assert_continuous, decode, fetch_hls
from tests.twostudios import ffmpeg_and_aiortc_studios


async def test_cuts_between_ffmpeg_and_aiortc_studios(server: Server) -> None:
    pull = FlvPull(f"{server.url}/live/test-show.flv").start()
    flv = pull.data
    try:
        async with ffmpeg_and_aiortc_studios(server):
            await server.wait_for(lambda s: all(st["online"] for st in s["studios"]), timeout=20)
            await server.wait_for(lambda s: all((st["stats"] or {}).get("video_frames", 0) > 10 for st in s["studios"]))
            for studio in ("alpha", "bravo", "alpha"):
                status, _ = await server.api("POST", "/api/shows/test-show/cut", json={"studio": studio})
                assert status == 200
                await asyncio.sleep(2.5)
            await pull.stop()
            # Pull HLS while the studios are still on: the window holds the last cuts.
            playlist, segments = await fetch_hls(f"{server.url}/live/test-show/index.m3u8")
    finally:
        pull.cancel()

    got = await asyncio.to_thread(decode, bytes(flv), "flv")
    assert got.size == (640, 360)
    # Generous: on a loaded machine the encoder drops pictures, never time (231 of 481 slots empty
    # at load 31 with two busy loops beside); the cuts are the point.
    assert_continuous(got, 30, max_missing=0.8, max_hole=2.0)
    # What came live (not the GOP cached before the pull); whole seconds: not the odd transition frame.
    runs = [c for c, n in got.after_cached_gop().runs() if n >= 30]
    assert runs[-3:] == ["red", "green", "red"], got.runs()
    # A cut shows on (about) the next frame: no blend frames between sources.
    assert sum(n for c, n in got.runs() if c == "other" and n < 30) <= 2

    assert "#EXT-X-TARGETDURATION" in playlist and "#EXT-X-PROGRAM-DATE-TIME" in playlist
    hls = await asyncio.to_thread(decode, segments, "mpegts")
    assert_continuous(hls, 30, max_missing=0.8, max_hole=2.0)  # the same encode: as generous
    assert {"red", "green"} <= set(hls.colours)
