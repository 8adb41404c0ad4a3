"""FFmpeg's WHIP muxer never answers ICE consent checks: its studio must not be dropped
while its media keeps arriving (it was, after ~30 s, before inbound traffic counted)."""

from __future__ import annotations

import asyncio
import subprocess

import aioice.ice
import pytest

from rooms.compat import aioicepatches
from tests.conftest import Server
from tests.studioprocess import spawn_test_studio, stop_processes


async def test_ffmpeg_studio_outlives_unanswered_consent_checks(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Six missed checks at 0.3 s: aioice's own rule would drop the studio within ~2 s.
    monkeypatch.setattr(aioicepatches, "CONSENT_INTERVAL_S", 0.3)
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.3)  # what aioice's own rule would use
    studio = spawn_test_studio(
        server, "alpha", pattern="red", width=320, height=180, bitrate=300_000, stderr=subprocess.PIPE
    )
    try:
        state = await server.wait_for(lambda s: s["studios"][0]["online"], timeout=20)
        session = state["studios"][0]["stats"]["session"]
        await asyncio.sleep(5)
        _, state = await server.api("GET", "/api/shows/test-show")
        alpha = state["studios"][0]
        assert alpha["online"] and alpha["stats"]["session"] == session, alpha
    finally:
        stop_processes([studio], 10)
