"""FFmpeg's WHIP muxer never answers ICE consent checks: its studio must not be dropped
while its media keeps arriving (it was, after ~30 s, before inbound traffic counted)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess

import aioice.ice
import pytest

from rooms.compat import aioicepatches
from rooms.syntheticstudio import spawn_studio
from tests.conftest import Server


async def test_ffmpeg_studio_outlives_unanswered_consent_checks(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Six missed checks at 0.3 s: aioice's own rule would drop the studio within ~2 s.
    monkeypatch.setattr(aioicepatches, "CONSENT_INTERVAL_S", 0.3)
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.3)  # what aioice's own rule would use
    studio = spawn_studio(
        f"{server.url}/whip/test-show/alpha", server.token("alpha"), "alpha", pattern="red",
        width=320, height=180, bitrate=300_000, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        state = await server.wait_for(lambda s: s["studios"][0]["online"], timeout=20)
        session = state["studios"][0]["stats"]["session"]
        await asyncio.sleep(5)
        _, state = await server.api("GET", "/api/shows/test-show")
        alpha = state["studios"][0]
        assert alpha["online"] and alpha["stats"]["session"] == session, alpha
    finally:
        studio.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            studio.wait(10)
