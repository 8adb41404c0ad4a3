"""The README's demo command as a user runs it (``broadcast demo``, here ``python -m orchestrator
demo`` with a small show): the show goes live with its synthetic studios, cuts between them,
serves HLS, says when a studio's process dies (it used to stay a zombie, unreported), and stops
cleanly on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.ports import free_port
from tests.serverprocess import ROOT, config_file, show_table


async def _line(out: asyncio.StreamReader, seen: list[str], wanted: str, timeout: float) -> str:
    """The next line of the demo's output containing ``wanted`` (all lines kept in ``seen``)."""
    async with asyncio.timeout(timeout):
        while True:
            raw = await out.readline()
            if not raw:
                raise AssertionError(f"the demo ended before printing {wanted!r}: {seen}")
            seen.append(raw.decode(errors="replace").rstrip())
            if wanted in seen[-1]:
                return seen[-1]


@pytest.mark.timeout(400)  # its own waits add up to 290 s at worst
async def test_demo_goes_live_cuts_reports_a_dead_studio_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    config = config_file(tmp_path, show_table("test-show", "Demo", width=320, height=180, fps=15), listen_port=port)
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "orchestrator", "demo", "--config", str(config), "--studios", "2", "--cut-every", "2"),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        await _line(proc.stdout, seen, "is live with 2 synthetic studios", 90)
        await _line(proc.stdout, seen, "cut to", 30)
        await _line(proc.stdout, seen, "cut to", 30)
        async with aiohttp.ClientSession() as http, asyncio.timeout(60):
            while True:  # the program's HLS, as the printed URL gives it
                async with http.get(f"http://127.0.0.1:{port}/live/test-show/index.m3u8") as res:
                    if res.status == 200 and "#EXTINF" in await res.text():
                        break
                await asyncio.sleep(0.5)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 2, children  # one process per synthetic studio
        os.kill(int(children[0]), signal.SIGKILL)
        ended = await _line(proc.stdout, seen, f"(pid {children[0]}) ended", 20)
        assert ended.endswith("status -9"), ended
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            rest = (await proc.stdout.read()).decode(errors="replace")
            assert await proc.wait() == 0, (seen, rest)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert "Traceback" not in "\n".join(seen) + rest, (seen, rest)
