"""Two real WHIP studios of the test show: alpha from FFmpeg's WHIP muxer (red), bravo from aiortc (green)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator

from tests.conftest import Server
from tests.studioprocess import spawn_test_studio, stop_processes
from tests.whipclient import AiortcPublisher


@contextlib.asynccontextmanager
async def ffmpeg_and_aiortc_studios(server: Server) -> AsyncIterator[AiortcPublisher]:
    """Alpha (FFmpeg, red, 640x360 at 800 kb/s) and bravo (aiortc, green) publishing; both end on exit.

    Yields bravo's publisher once it has started (alpha may still be connecting).
    """
    ffmpeg = spawn_test_studio(
        server, "alpha", pattern="red", width=640, height=360, bitrate=800_000, stderr=subprocess.PIPE
    )
    publisher = AiortcPublisher(server.url, "test-show", "bravo", server.token("bravo"), "green")
    try:
        await publisher.start()
        yield publisher
    finally:
        stop_processes([ffmpeg], 10)
        await publisher.stop()
