"""Presence you can trust (issue 9 obs. 8, issue 10 item 8): a studio is online from the moment
its connection is up; an answered session that never connects is closed; a publisher that
dies or stops sending is offline within seconds; a short gap in its media is ridden out."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import av
import pytest

from orchestrator.app import create_app
from orchestrator.appkeys import SHOWS
from rooms.syntheticstudio import spawn_studio
from rooms.whipsession import MEDIA_TIMEOUT_S
from tests import sdpshapes
from tests.conftest import Server, make_config
from tests.whipclient import ColourTrack, ToneTrack, TrackPublisher

OFFLINE_WITHIN_S = 8.0  # generous on a loaded 2-core box; measured figures are printed


@pytest.fixture
async def fast(tmp_path: Path, aiohttp_server: Any) -> Server:
    """A server whose sessions must connect within 2 s (15 s in production)."""
    config = make_config(tmp_path)
    srv = await aiohttp_server(create_app(config), host="127.0.0.1")
    for runner in srv.app[SHOWS].values():
        runner.whip = dataclasses.replace(runner.whip, connect_timeout=2.0)
    return Server(str(srv.make_url("")).rstrip("/"), config)


def _alpha(state: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in state["studios"] if s["id"] == "alpha")


async def _offline_after(server: Server, since: float, timeout: float = 30) -> float:
    await server.wait_for(lambda s: not _alpha(s)["online"] and _alpha(s)["stats"] is None, timeout=timeout)
    return time.monotonic() - since


async def _events(server: Server) -> list[str]:
    _, events = await server.api("GET", "/api/shows/test-show/events")
    return [e["kind"] for e in events["events"]]


async def test_session_that_never_connects_is_closed_and_never_shown_online(fast: Server) -> None:
    pub = TrackPublisher(fast.url, "test-show", "alpha", fast.token("alpha"), ColourTrack("red", 320, 180))
    try:
        await pub.pc.setLocalDescription(await pub.pc.createOffer())
        status, answer, _ = await sdpshapes.post_offer(fast, "alpha", pub.pc.localDescription.sdp)
        assert status == 201, answer
        answered = time.monotonic()  # the answer is never applied: no connection can form
        seen: set[str] = set()
        while True:
            _, state = await fast.api("GET", "/api/shows/test-show")
            alpha = _alpha(state)
            assert not alpha["online"], alpha  # answered is not online
            if alpha["stats"] is None:
                break
            seen.add(alpha["stats"]["state"])
            assert time.monotonic() - answered < 20, alpha
            await asyncio.sleep(0.1)
        closed_after = time.monotonic() - answered
        print(f"\nunconnected session closed {closed_after:.1f} s after its answer (timeout 2 s)")
        assert seen and seen <= {"new", "connecting", "failed"}, seen
        assert closed_after >= 1.5, closed_after
        assert "studio.joined" not in await _events(fast)
    finally:
        await pub.pc.close()


class _Gate:
    """Lets a publisher's tracks stop sending (their recv waits) and start again."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.open.set()


class GatedColour(ColourTrack):
    def __init__(self, gate: _Gate) -> None:
        super().__init__("green", 320, 180)
        self._gate = gate

    async def recv(self) -> av.VideoFrame:
        await self._gate.open.wait()
        return await super().recv()


class GatedTone(ToneTrack):
    def __init__(self, gate: _Gate) -> None:
        super().__init__(550)
        self._gate = gate

    async def recv(self) -> av.AudioFrame:
        await self._gate.open.wait()
        return await super().recv()


async def test_publisher_that_stops_sending_goes_offline_and_a_short_gap_is_ridden_out(server: Server) -> None:
    gate = _Gate()
    pub = TrackPublisher(server.url, "test-show", "alpha", server.token("alpha"), GatedColour(gate), GatedTone(gate))
    try:
        await pub.start()
        state = await server.wait_for(lambda s: (_alpha(s)["stats"] or {}).get("video_frames", 0) > 15)
        assert _alpha(state)["online"] and "studio.joined" in await _events(server)
        session = _alpha(state)["stats"]["session"]

        # A gap shorter than the media timeout (Wi-Fi roaming, a hand-over): stalled, then back.
        gate.open.clear()
        await server.wait_for(lambda s: (_alpha(s)["stats"] or {}).get("state") == "stalled", timeout=MEDIA_TIMEOUT_S)
        await asyncio.sleep(max(MEDIA_TIMEOUT_S - 2.0, 0.5))
        gate.open.set()
        frames = _alpha(state)["stats"]["video_frames"]
        state = await server.wait_for(
            lambda s: (
                (_alpha(s)["stats"] or {}).get("state") == "connected"
                and _alpha(s)["stats"]["video_frames"] > frames + 15
            )
        )
        assert _alpha(state)["online"] and _alpha(state)["stats"]["session"] == session, _alpha(state)

        # The host stops sending for good (its connection stays up: RTCP and ICE still flow).
        gate.open.clear()
        offline_after = await _offline_after(server, time.monotonic())
        print(
            f"\npublisher that stopped sending offline after {offline_after:.1f} s (media timeout {MEDIA_TIMEOUT_S} s)"
        )
        assert MEDIA_TIMEOUT_S - 0.5 <= offline_after < OFFLINE_WITHIN_S, offline_after
        assert (await _events(server))[-1] == "studio.left"
    finally:
        gate.open.set()
        await pub.pc.close()


async def test_killed_ffmpeg_studio_goes_offline_within_seconds(server: Server) -> None:
    studio = spawn_studio(
        f"{server.url}/whip/test-show/alpha", server.token("alpha"), "alpha", pattern="blue",
        width=320, height=180, bitrate=300_000, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await server.wait_for(lambda s: (_alpha(s)["stats"] or {}).get("video_frames", 0) > 30, timeout=30)
        os.kill(studio.pid, signal.SIGKILL)  # no DELETE, no DTLS close: it is simply gone
        killed = time.monotonic()
        offline_after = await _offline_after(server, killed)
        print(f"\nkilled FFmpeg studio offline after {offline_after:.1f} s (was 37-41 s)")
        assert offline_after < OFFLINE_WITHIN_S, offline_after
    finally:
        if studio.poll() is None:
            studio.kill()
        studio.wait(10)
