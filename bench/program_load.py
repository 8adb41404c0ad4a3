"""Server CPU with N synthetic 720p30 studios publishing over WHIP.

Starts `broadcast serve` as its own process, N publishers as other processes,
cuts between studios every 2 s, and reads the server's CPU from /proc (its own
accounting: user + system time of all its threads) over a measuring window.

    .venv/bin/python bench/program_load.py --studios 1 4 8 --seconds 20

Run it inside a loopback-only namespace as the tests do:
    unshare -n sh -c 'ip link set lo up; .venv/bin/python bench/program_load.py'
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import BenchServer, report, stop_processes  # noqa: E402
from rooms.syntheticstudio import spawn_studio  # noqa: E402


def run_one(
    studios: int, seconds: float, width: int, height: int, fps: int, effects: bool = False
) -> dict[str, object]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        BenchServer(Path(tmp), studios, width, height, fps) as server,
    ):
        pubs: list[subprocess.Popen[bytes]] = []
        try:
            for i in range(studios):
                pubs.append(
                    spawn_studio(
                        server.whip_url(f"s{i}"),
                        server.token(f"s{i}"),
                        f"Studio {i}",
                        tone_hz=440 + 60 * i,
                        width=width,
                        height=height,
                        fps=fps,
                        verbose=False,
                    )
                )
            server.wait_online(studios)
            if effects:
                # Three cards on air (one with a ticking countdown) and fades instead of cuts.
                for slot, product in (("main", "p0"), ("tag1", "p1"), ("tag2", "p2")):
                    server.api("/api/shows/bench/cards", {"product": product, "slot": slot, "countdown_s": 600})
                server.api("/api/shows/bench/cut", {"studio": "s0"})
            time.sleep(3)  # warm-up: decoders and encoder settle
            before = server.state()["mixer"]
            cpu0, t0 = server.cpu_seconds(), time.monotonic()
            n = 0
            while time.monotonic() - t0 < seconds:
                if effects and studios > 1:
                    server.api("/api/shows/bench/preview", {"studio": f"s{(n + 1) % studios}"})
                    server.api("/api/shows/bench/take", {"transition": "fade", "duration_ms": 500})
                else:
                    server.api("/api/shows/bench/cut", {"studio": f"s{n % studios}"})
                n += 1
                time.sleep(2)
            cpu1, t1 = server.cpu_seconds(), time.monotonic()
            after = server.state()["mixer"]
            ticks = after["ticks"] - before["ticks"]
            return {
                "studios": studios,
                "effects": effects,
                "size": f"{width}x{height}@{fps}",
                "seconds": round(t1 - t0, 1),
                "server_cores": round((cpu1 - cpu0) / (t1 - t0), 3),
                "program_fps": round(ticks / (t1 - t0), 2),
                "late_ticks": after["late_ticks"] - before["late_ticks"],
                "encoder_dropped": after["encoder_dropped"] - before["encoder_dropped"],
                "compose_ms_avg": after["compose_ms_avg"],
                "encode_ms_avg": after["encode_ms_avg"],
            }
        finally:
            stop_processes(pubs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--studios", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--size", default="1280x720")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--effects", action="store_true", help="three cards on air and 500 ms fades instead of cuts")
    args = p.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    print("studios  size           cores   fps    late  dropped  compose_ms  encode_ms")
    for n in args.studios:
        r = run_one(n, args.seconds, width, height, args.fps, args.effects)
        report(
            f"{r['studios']:>7}  {r['size']:<13} {r['server_cores']:>6}  {r['program_fps']:>5}  "
            f"{r['late_ticks']:>4}  {r['encoder_dropped']:>7}  {r['compose_ms_avg']!s:>10}  {r['encode_ms_avg']!s:>9}",
            r,
        )


if __name__ == "__main__":
    main()
