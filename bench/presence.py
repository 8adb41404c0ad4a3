"""How soon a studio whose publisher dies is shown offline (issue 10: "presence is prompt").

Starts ``broadcast serve`` with one show, then ``--runs`` times: publishes a synthetic
studio (FFmpeg WHIP muxer, its own process), waits until it is online and delivering,
kills the process (SIGKILL: no DELETE, no DTLS close, exactly a crashed encoder or a
laptop gone dark) and reads the control API every 50 ms until the studio is offline.

    unshare -n sh -c 'ip link set lo up; .venv/bin/python bench/presence.py --runs 10'

The figure is bounded below by the media timeout (rooms/liveness.py MEDIA_TIMEOUT_S,
3 s) plus the watch interval (0.25 s); the rest is the API poll and a loaded machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import BenchServer, stop_processes  # noqa: E402, I001 (harness.py: on main)
from rooms.syntheticstudio import spawn_studio  # noqa: E402


def _studio(server: BenchServer) -> dict[str, object]:
    return next(s for s in server.state()["studios"] if s["id"] == "s0")


def one_kill(server: BenchServer, timeout: float = 30) -> float:
    """Seconds from SIGKILL of a delivering publisher to the studio shown offline."""
    proc = spawn_studio(
        server.whip_url("s0"), server.token("s0"), "s0", width=640, height=360, bitrate=800_000,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while not (_studio(server)["online"] and ((_studio(server)["stats"] or {}).get("video_frames", 0) or 0) > 60):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the studio did not come online")
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        while _studio(server)["online"]:
            if time.monotonic() - killed > timeout:
                raise RuntimeError("the killed studio stayed online")
            time.sleep(0.05)
        return time.monotonic() - killed
    finally:
        stop_processes([proc])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, BenchServer(Path(tmp), studios=1, width=640, height=360) as server:
        figures = []
        for i in range(args.runs):
            figures.append(one_kill(server))
            print(f"run {i + 1}: offline {figures[-1]:.2f} s after the kill", flush=True)
    print(
        f"killed publisher -> offline: median {statistics.median(figures):.2f} s, "
        f"min {min(figures):.2f} s, max {max(figures):.2f} s over {len(figures)} runs"
    )


if __name__ == "__main__":
    main()
