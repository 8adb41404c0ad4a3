"""What open control pages cost the server: its CPU with 0, 1 and 8 pages on the live-state socket.

    .venv/bin/python bench/controlpages.py [--studios 16] [--pages 0 1 8] [--seconds 20]

A show of ``--studios`` studios (nobody publishing) with a small program (320x180 at 10 fps,
so the program's own encode is a small, constant baseline); for each count, that many
WebSocket clients in this process read ``/api/shows/bench/ws`` (a state each second, as the
control page gets) while the server's CPU is read from /proc over ``--seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import OPERATOR, SHOW, BenchServer, report  # noqa: E402


async def measure(server: BenchServer, pages: int, seconds: float) -> tuple[float, int]:
    """Server cores and messages received per page per second with ``pages`` open pages."""
    received = 0

    async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
        nonlocal received
        async for _ in ws:
            received += 1

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {OPERATOR}"}) as http:
        socks = [await http.ws_connect(f"{server.url}/api/shows/{SHOW}/ws") for _ in range(pages)]
        readers = [asyncio.ensure_future(read(ws)) for ws in socks]
        await asyncio.sleep(2)  # connected and past the first states
        received, cpu, wall = 0, server.cpu_seconds(), time.monotonic()
        await asyncio.sleep(seconds)
        cores = (server.cpu_seconds() - cpu) / (time.monotonic() - wall)
        rate = round(received / max(pages, 1) / seconds)
        for ws in socks:
            await ws.close()
        for task in readers:
            task.cancel()
    return cores, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studios", type=int, default=16)
    parser.add_argument("--pages", type=int, nargs="+", default=[0, 1, 8])
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    print("| pages | server cores | messages per page per s |")
    print("| --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp, BenchServer(Path(tmp), args.studios, 320, 180, 10) as server:
        for pages in args.pages:
            cores, rate = asyncio.run(measure(server, pages, args.seconds))
            report(f"| {pages} | {cores:.3f} | {rate} |", {"pages": pages, "cores": cores, "rate": rate})


if __name__ == "__main__":
    main()
