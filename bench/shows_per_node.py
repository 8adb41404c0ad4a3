"""Shows per node: how many 720p30 shows with 4 studios each one node holds at full frame rate.

    unshare -n sh -c 'scripts/loopback-net.sh && exec env PYTHONPATH=$PWD .venv/bin/python bench/shows_per_node.py'
    ... bench/shows_per_node.py --shows 1 2 3 --studios 4 --seconds 20

For each count N: one ``broadcast serve`` process (bench/harness.py) with N shows (1280x720 at
30 fps, HLS + FLV outputs, x264 veryfast as configured), 4 synthetic WHIP studios per show
(their own processes, 720p30 H.264; their CPU is NOT the server's but shares the machine), cuts
between the studios every 2 s, then over ``--seconds``: the server's CPU (cores, from /proc) and
per show the program frame rate, late ticks (a tick composed after its deadline) and encoder
drops. A node "holds" N shows when every show keeps 30 fps with no late tick. Stops at the first
N that fails. The publishers run on the same cores: on a 2-core box they cost about as much as
the server, so the figure is a lower bound for a node whose studios are elsewhere.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import SHOW, BenchServer, api, server_table, stop_processes  # noqa: E402
from rooms.syntheticstudio import spawn_studio  # noqa: E402


def show_ids(shows: int) -> list[str]:
    return [SHOW if n == 0 else f"{SHOW}-{n}" for n in range(shows)]  # the harness waits for SHOW


def config(directory: Path, port: int, shows: int, studios: int) -> Path:
    lines = server_table(directory, port)
    for show in show_ids(shows):
        lines += ["[[shows]]", f'id = "{show}"', f'title = "{show}"', "width = 1280", "height = 720", "fps = 30"]
        for i in range(studios):
            lines += ["[[shows.studios]]", f'id = "s{i}"', f'name = "Studio {i}"']
    path = directory / "shows.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(shows: int, studios: int, seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        server = BenchServer(Path(tmp), 0)
        server.config = config(Path(tmp), server.port, shows, studios)
        ids = show_ids(shows)
        with server:
            pubs: list[subprocess.Popen[bytes]] = []
            try:
                for show in ids:
                    for i in range(studios):
                        token = server.tokens.mint(show, f"s{i}")
                        url = f"{server.url}/whip/{show}/s{i}"
                        pubs.append(spawn_studio(url, token, f"{show} {i}", tone_hz=440 + 60 * i, verbose=False))
                deadline = time.time() + 60
                while sum(s["online"] for show in ids for s in api(server.port, f"/api/shows/{show}")["studios"]) < (
                    shows * studios
                ):
                    if time.time() > deadline:
                        raise RuntimeError("studios did not all come online")
                    time.sleep(0.5)
                time.sleep(3)  # warm-up
                before = {show: api(server.port, f"/api/shows/{show}")["mixer"] for show in ids}
                cpu0, t0 = server.cpu_seconds(), time.monotonic()
                n = 0
                while time.monotonic() - t0 < seconds:
                    for show in ids:
                        api(server.port, f"/api/shows/{show}/cut", {"studio": f"s{n % studios}"})
                    n += 1
                    time.sleep(2)
                cpu1, t1 = server.cpu_seconds(), time.monotonic()
                after = {show: api(server.port, f"/api/shows/{show}")["mixer"] for show in ids}
            finally:
                stop_processes(pubs)
    per_show = {
        show: {
            "fps": round((after[show]["ticks"] - before[show]["ticks"]) / (t1 - t0), 2),
            "late_ticks": after[show]["late_ticks"] - before[show]["late_ticks"],
            "encoder_dropped": after[show]["encoder_dropped"] - before[show]["encoder_dropped"],
        }
        for show in ids
    }
    holds = all(v["fps"] >= 29.5 and v["late_ticks"] == 0 and v["encoder_dropped"] == 0 for v in per_show.values())
    return {
        "shows": shows,
        "studios_per_show": studios,
        "seconds": round(t1 - t0, 1),
        "server_cores": round((cpu1 - cpu0) / (t1 - t0), 3),
        "per_show": per_show,
        "holds": holds,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shows", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--studios", type=int, default=4)
    p.add_argument("--seconds", type=float, default=20)
    args = p.parse_args()
    with open("/proc/loadavg") as f:
        print(f"load average before: {f.read().split()[:3]}", flush=True)
    for shows in args.shows:
        result = run(shows, args.studios, args.seconds)
        print(json.dumps(result), flush=True)
        if not result["holds"]:
            break


if __name__ == "__main__":
    main()
