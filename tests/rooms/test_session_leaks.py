"""Joining and leaving frees everything: after many WHIP join/leave cycles the server
process has no more asyncio tasks, threads or open file descriptors than before."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time

from tests.conftest import Server
from tests.whipclient import AiortcPublisher

CYCLES = int(os.environ.get("LEAK_CYCLES", "50"))


def _counts() -> tuple[int, int, int]:
    # The loop's default executor grows lazily (aiohttp resolves names in it): not a leak.
    threads = [t for t in threading.enumerate() if not t.name.startswith("asyncio_")]
    return len(asyncio.all_tasks()), len(threads), len(os.listdir("/proc/self/fd"))


async def _settled(limit: tuple[int, int, int], timeout: float = 10) -> tuple[int, int, int]:
    """Counts once they are within ``limit`` (threads and sockets take a moment to go)."""
    deadline = time.monotonic() + timeout
    while True:
        gc.collect()
        now = _counts()
        if all(n <= m for n, m in zip(now, limit, strict=True)) or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.2)


async def test_join_leave_cycles_leak_nothing(server: Server) -> None:
    token = server.token("alpha")

    async def cycle(colour: str) -> None:
        pub = AiortcPublisher(server.url, "test-show", "alpha", token, colour)
        await pub.start()
        await server.wait_for(lambda s: (s["studios"][0]["stats"] or {}).get("video_frames", 0) > 0)
        await pub.stop()
        await server.wait_for(lambda s: not s["studios"][0]["online"])

    for _ in range(2):  # warm up: codec contexts, thread pools and the like are made once
        await cycle("red")
    base = await _settled((0, 0, 0), timeout=2)
    t0 = time.monotonic()
    for i in range(CYCLES):
        await cycle(("red", "green", "blue")[i % 3])
    spent = time.monotonic() - t0
    tasks, threads, fds = await _settled((base[0] + 1, base[1], base[2] + 2))
    print(
        f"\n{CYCLES} join/leave cycles in {spent:.1f} s: tasks {base[0]}->{tasks}, "
        f"threads {base[1]}->{threads}, fds {base[2]}->{fds}"
    )
    assert tasks <= base[0] + 1, (base, tasks)
    assert threads <= base[1], (base, threads)
    assert fds <= base[2] + 2, (base, fds)
