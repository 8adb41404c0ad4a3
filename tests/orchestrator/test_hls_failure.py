"""HLS that cannot write its directory raises the output alarm and logs its error once.

The trial's failure: with a ``data_dir`` HLS could not write, the server ran with ``/healthz``
ok, the playlist 404 and 62 ERROR lines in 25 s, with no alarm. Here the show's HLS directory
is blocked by a regular file where ``live/`` should be (a real filesystem error, any user):
the crew gets ``output.failed:hls`` and an ``output.down`` event, the log one line; when the
file goes, HLS heals itself (``output.up``) and the alarm clears.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, make_config, serve

SHOW = "/api/shows/test-show"
ALARM = "output.failed:hls"


def _alarm(state: dict[str, Any]) -> dict[str, Any] | None:
    return next((a for a in state["alarms"] if a["id"] == ALARM), None)


async def _hls_events(server: Server, last: str) -> list[dict[str, Any]]:
    """The show's HLS output events, once the newest is ``last`` (the output watch polls once a second)."""
    async with asyncio.timeout(15):
        while True:
            _, body = await server.api("GET", f"{SHOW}/events")
            found = [e for e in body["events"] if e["kind"] in ("output.down", "output.up")]
            found = [e for e in found if e["detail"]["output"] == "hls"]
            if found and found[-1]["kind"] == last:
                return found
            await asyncio.sleep(0.2)


async def test_hls_that_cannot_write_alarms_once_and_recovers(
    tmp_path: Path, aiohttp_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "data" / "live"
    blocker.parent.mkdir()
    blocker.write_text("not a directory")
    caplog.set_level(logging.ERROR, logger="mixer.outputs.hlsoutput")
    server = await serve(aiohttp_server, make_config(tmp_path))

    state = await server.wait_for(lambda s: _alarm(s) is not None, timeout=30)
    alarm = _alarm(state)
    assert alarm is not None and alarm["active"] and "HLS failing" in alarm["cause"], alarm
    assert str(blocker) in alarm["fix"], alarm
    # A few more segments' worth of failures (1 s segments): still one line in the log.
    await server.wait_for(lambda s: s["outputs"]["hls"]["errors"] >= 5, timeout=30)
    errors = [r for r in caplog.records if r.name == "mixer.outputs.hlsoutput"]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    await server.wait_for(lambda s: bool(s["outputs"]["hls"]["errors"]) and not s["outputs"]["hls"]["up"])
    down = await _hls_events(server, "output.down")
    assert len(down) == 1 and "NotADirectoryError" in down[0]["detail"]["error"], down

    blocker.unlink()  # the disk is writable again: the next keyframe opens a segment
    state = await server.wait_for(lambda s: s["outputs"]["hls"]["segments_written"] >= 2, timeout=30)
    alarm = _alarm(await server.wait_for(lambda s: not (_alarm(s) or {}).get("active"), timeout=15))
    assert alarm is None or not alarm["active"], alarm
    assert (tmp_path / "data" / "live" / "test-show" / "index.m3u8").exists()
    events = await _hls_events(server, "output.up")
    assert [e["kind"] for e in events] == ["output.down", "output.up"], events  # its start was no event
