"""Talk and listen: what the hosts' return feeds cost, and how late a voice reaches the other studio.

Starts ``broadcast serve`` (bench/harness.py, a 1280x720 show) and measures:

1. **CPU**: ``--studios`` synthetic studios (FFmpeg WHIP, their own processes, 640x360),
   two of them side by side on air; server CPU over ``--seconds`` without return feeds, then
   with one return feed per studio (aiortc clients in this process: their decoding is not
   counted), then without again. Also the program's output fps and late ticks in each phase.
2. **Mouth to ear, studio A -> studio B**: A is an aiortc publisher beeping at known instants
   (tests/flashbeep.py: the beep of second s is "captured" at epoch + s); B's return feed is
   decoded by an aiortc client; delay = the beep's first sample arriving decoded at B minus
   its capture time.
3. **Talkback, operator microphone -> host ear**: an aiortc "operator" sends the same beeps as
   talkback to B; measured the same way at B's return.

The ear is an aiortc client; its receive jitter buffer is inside the figures, measured twice:
with one packet (near a browser's adaptive buffer on a clean loopback) and with aiortc's own
four (80 ms more).

    unshare -n sh -c 'scripts/loopback-net.sh && .venv/bin/python bench/talk_listen.py'
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import OPERATOR, SHOW, BenchServer, stop_processes  # noqa: E402, I001
from rooms.ice import offer_host_addresses  # noqa: E402
from rooms.syntheticstudio import spawn_studio  # noqa: E402
from tests.flashbeep import BeepTrack, FlashTrack  # noqa: E402
from tests.returnclient import Listener, Talker  # noqa: E402
from tests.whipclient import ToneTrack, TrackPublisher  # noqa: E402

RATE = 48_000


def beep_delays(listener: Listener, epoch: float, since_wall: float) -> list[float]:
    """Seconds from each beep's capture (epoch + whole seconds) to its first sample decoded at ``listener``.

    A beep is the first loud sample after at least 0.3 s of quiet; a decoded 20 ms chunk counts
    from its arrival, its k-th sample k / 48000 s later (as if played at once).
    """
    offset = time.time() - time.monotonic()
    delays: list[float] = []
    quiet = 0
    for arrival, chunk in listener.chunks:
        loud = np.flatnonzero(np.abs(chunk) > 1500)
        if len(loud) == 0:
            quiet += len(chunk)
            continue
        heard = arrival + offset + loud[0] / RATE
        if quiet + loud[0] >= 0.3 * RATE and heard >= since_wall:
            delays.append(heard - (epoch + math.floor(heard - epoch)))
        quiet = len(chunk) - int(loud[-1]) - 1
    return delays


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ms = sorted(1000 * v for v in values)
    return {
        "n": len(ms),
        "median_ms": round(float(statistics.median(ms)), 1),
        "p90_ms": round(float(ms[int(0.9 * (len(ms) - 1))]), 1),
        "min_ms": round(float(ms[0]), 1),
        "max_ms": round(float(ms[-1]), 1),
    }


def phase(server: BenchServer, seconds: float) -> dict[str, Any]:
    before, cpu0, t0 = server.state()["mixer"], server.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    after, cpu1, t1 = server.state()["mixer"], server.cpu_seconds(), time.monotonic()
    return {
        "cores": round((cpu1 - cpu0) / (t1 - t0), 3),
        "output_fps": after.get("output_fps"),
        "late_ticks": after.get("late_ticks", 0) - before.get("late_ticks", 0),
    }


async def cpu_part(server: BenchServer, studios: int, seconds: float) -> dict[str, Any]:
    procs = [
        spawn_studio(server.whip_url(f"s{i}"), server.token(f"s{i}"), f"s{i}", width=640, height=360,
                     bitrate=800_000, tone_hz=300 + 100 * i, stderr=subprocess.DEVNULL)
        for i in range(studios)
    ]  # fmt: skip
    listeners: list[Listener] = []
    try:
        await asyncio.to_thread(server.wait_online, studios, 60)
        server.api(f"/api/shows/{SHOW}/layout", {"layout": "side-by-side", "studios": ["s0", "s1"]})
        server.api(f"/api/shows/{SHOW}/take", {"transition": "cut"})
        await asyncio.sleep(3)
        without = await asyncio.to_thread(phase, server, seconds)
        for i in range(studios):
            listener = Listener(f"{server.url}/return/{SHOW}/s{i}", server.token(f"s{i}"))
            await listener.start(timeout=30)
            listeners.append(listener)
        await asyncio.sleep(3)
        with_returns = await asyncio.to_thread(phase, server, seconds)
        status = server.api(f"/api/shows/{SHOW}/talkback")
        for listener in listeners:
            await listener.stop(server.url)
        listeners.clear()
        await asyncio.sleep(3)
        after = await asyncio.to_thread(phase, server, seconds)
        return {
            "studios": studios,
            "without": without,
            "with_returns": with_returns,
            "without_again": after,
            "return_picture": status["picture"].get("encode", {}),
            "return_audio": status["audio"],
        }
    finally:
        for listener in listeners:
            await listener.stop(server.url)
        stop_processes(procs)


async def delay_part(
    server: BenchServer, seconds: float, prefetch: int | None, verbose: bool = False
) -> dict[str, Any]:
    epoch = time.time() + 1.0
    a = TrackPublisher(server.url, SHOW, "s0", server.token("s0"), FlashTrack(epoch), BeepTrack(epoch, hz=1000))
    b = TrackPublisher(server.url, SHOW, "s1", server.token("s1"), FlashTrack(epoch), ToneTrack(300))
    ret = Listener(f"{server.url}/return/{SHOW}/s1", server.token("s1"), video=False, audio_prefetch=prefetch)
    talk_epoch = 0.0
    talker: Talker | None = None
    try:
        await a.start()
        await b.start()
        await asyncio.to_thread(server.wait_online, 2, 30)
        server.api(f"/api/shows/{SHOW}/layout", {"layout": "side-by-side", "studios": ["s0", "s1"]})
        server.api(f"/api/shows/{SHOW}/take", {"transition": "cut"})
        await ret.start()
        await asyncio.sleep(3)
        since = time.time()
        await asyncio.sleep(seconds)
        studio = beep_delays(ret, epoch, since)
        # Talkback: A gone (its beeps no longer in B's return), an operator beeping to B.
        await a.stop()
        talk_epoch = time.time() + 1.0
        talker = Talker(server.url, SHOW, {"Authorization": f"Bearer {OPERATOR}"}, BeepTrack(talk_epoch, hz=1000))
        await talker.start()
        await talker.key(True, ["s1"])
        await asyncio.sleep(3)
        since = time.time()
        await asyncio.sleep(seconds)
        talkback = beep_delays(ret, talk_epoch, since)
        if verbose:
            print("A->B each (ms):", [round(1000 * d) for d in studio])
            print("talkback each (ms):", [round(1000 * d) for d in talkback])
        return {"studio_a_to_b": summary(studio), "talkback_to_host": summary(talkback)}
    finally:
        if talker is not None:
            await talker.stop()
        await ret.stop(server.url)
        await a.stop()
        await b.stop()


async def main_async(args: argparse.Namespace) -> None:
    offer_host_addresses(["127.0.0.1"])  # this process's aiortc clients, on loopback like the server
    with tempfile.TemporaryDirectory() as tmp:
        show_extra = "video_bitrate = 2500000\n[shows.outputs]\nhls = true\nflv = true"
        with BenchServer(Path(tmp), max(2, args.studios), show_extra=show_extra) as server:
            if not args.skip_delay:
                for prefetch in (1, None):  # the ear: a browser-like 1-packet buffer, then aiortc's own 4
                    result = await delay_part(server, args.seconds, prefetch, args.verbose)
                    print(f"delay (client buffer {prefetch or 4} packets):", result, flush=True)
            if not args.skip_cpu:
                print("cpu:", await cpu_part(server, args.studios, args.seconds), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--studios", type=int, default=8)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--skip-cpu", action="store_true")
    p.add_argument("--skip-delay", action="store_true")
    p.add_argument("--verbose", action="store_true", help="print every delay measured")
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
