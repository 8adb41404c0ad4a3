"""Presence you can trust (issue 9 obs. 8, issue 10 item 8): a studio is online while its
connection is up and its media arrives; an answered session that never connects is closed;
a publisher that dies or stops sending is offline within seconds; a short gap in its media
is ridden out, and a longer one (an outage) ends in the same session coming back online."""

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
from rooms.liveness import MEDIA_TIMEOUT_S, LivenessOptions
from tests import sdpshapes
from tests.auditevents import kinds, of_studio
from tests.conftest import Server, make_config
from tests.studioprocess import spawn_test_studio
from tests.whipclient import ColourTrack, ToneTrack, TrackPublisher

OFFLINE_WITHIN_S = 8.0  # generous on a loaded 2-core box; measured figures are printed


@pytest.fixture
async def fast(tmp_path: Path, aiohttp_server: Any) -> Server:
    """A server whose sessions must connect within 2 s and are closed after 8 s without media
    (15 s and 30 s in production)."""
    config = make_config(tmp_path)
    srv = await aiohttp_server(create_app(config), host="127.0.0.1")
    for runner in srv.app[SHOWS].values():
        runner.whip = dataclasses.replace(runner.whip, liveness=LivenessOptions(connect_timeout=2.0, silent_close=8.0))
    return Server.of(srv, config)


def _alpha(state: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in state["studios"] if s["id"] == "alpha")


async def _offline_after(server: Server, since: float, timeout: float = 30) -> float:
    await server.wait_for(lambda s: not _alpha(s)["online"], timeout=timeout)
    return time.monotonic() - since


async def _alpha_events(server: Server) -> list[str]:
    """The kinds of alpha's own comings and goings, in order: the system's events (alarms, the
    fallback when alpha goes) are written at any time, also after alpha's newest."""
    _, events = await server.api("GET", "/api/shows/test-show/events")
    return kinds(of_studio(events["events"], "alpha"))


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
        assert seen and seen <= {"new", "connecting", "failed", "closed"}, seen
        assert closed_after >= 1.5, closed_after
        assert "studio.joined" not in await _alpha_events(fast)
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


async def test_publisher_that_stops_sending_is_offline_fast_and_online_again_when_media_returns(
    fast: Server,
) -> None:
    server = fast
    gate = _Gate()
    pub = TrackPublisher(server.url, "test-show", "alpha", server.token("alpha"), GatedColour(gate), GatedTone(gate))
    try:
        await pub.start()
        state = await server.wait_for(lambda s: (_alpha(s)["stats"] or {}).get("video_frames", 0) > 15)
        assert _alpha(state)["online"] and "studio.joined" in await _alpha_events(server)
        session = _alpha(state)["stats"]["session"]

        # A gap shorter than the media timeout (Wi-Fi roaming, a hand-over): stalled, never offline.
        gate.open.clear()
        gap_end = time.monotonic() + MEDIA_TIMEOUT_S - 1.5
        states = set()
        while time.monotonic() < gap_end:
            _, state = await server.api("GET", "/api/shows/test-show")
            assert _alpha(state)["online"], _alpha(state)
            states.add(_alpha(state)["stats"]["state"])
            await asyncio.sleep(0.1)
        gate.open.set()
        assert "stalled" in states, states
        frames = _alpha(state)["stats"]["video_frames"]
        state = await server.wait_for(
            lambda s: (
                (_alpha(s)["stats"] or {}).get("state") == "connected"
                and _alpha(s)["stats"]["video_frames"] > frames + 15
            )
        )
        assert _alpha(state)["online"] and _alpha(state)["stats"]["session"] == session, _alpha(state)

        # The host stops sending (its connection stays up: RTCP and ICE still flow): offline fast,
        # while the session waits for its media.
        gate.open.clear()
        offline_after = await _offline_after(server, time.monotonic())
        print(f"\nstopped sending: offline after {offline_after:.1f} s (media timeout {MEDIA_TIMEOUT_S} s)")
        assert MEDIA_TIMEOUT_S - 0.5 <= offline_after < OFFLINE_WITHIN_S, offline_after
        _, state = await server.api("GET", "/api/shows/test-show")
        assert _alpha(state)["stats"]["state"] == "stalled" and _alpha(state)["stats"]["session"] == session
        assert (await _alpha_events(server))[-1] == "studio.left"

        # Its media returns (the network is back): online again, same session, no re-join.
        gate.open.set()
        back = time.monotonic()
        state = await server.wait_for(lambda s: _alpha(s)["online"], timeout=10)
        print(f"media back: online again after {time.monotonic() - back:.2f} s")
        assert _alpha(state)["stats"]["session"] == session
        assert (await _alpha_events(server))[-1] == "studio.joined"

        # Silent for good: offline, then the session itself is closed (silent_close, 8 s here).
        gate.open.clear()
        stopped = time.monotonic()
        await _offline_after(server, stopped)
        await server.wait_for(lambda s: _alpha(s)["stats"] is None, timeout=20)
        closed_after = time.monotonic() - stopped
        assert 7.0 <= closed_after < 8.0 + OFFLINE_WITHIN_S, closed_after
        assert (await _alpha_events(server))[-2:] == ["studio.joined", "studio.left"]  # no second studio.left
    finally:
        gate.open.set()
        await pub.pc.close()


async def test_killed_ffmpeg_studio_goes_offline_within_seconds(server: Server) -> None:
    studio = spawn_test_studio(
        server, "alpha", pattern="blue", width=320, height=180, bitrate=300_000, stderr=subprocess.DEVNULL
    )
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
