"""What one ``GET /metrics`` costs the server: wall time and server CPU per scrape.

Starts ``broadcast serve`` with one show (``--studios`` configured, none publishing: the
families are there, a scrape reads every show, output and delay line), lets it settle,
then scrapes ``--scrapes`` times back to back and reports the median wall time of a
scrape and the server's CPU seconds per scrape (from /proc, the whole process, so the
program clock's own work over the same seconds is subtracted with an idle interval of
the same length measured just before).

    unshare -n sh -c 'ip link set lo up; .venv/bin/python bench/metrics_scrape.py'
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import BenchServer  # noqa: E402


def scrape(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as res:
        return bytes(res.read())


def main(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        BenchServer(Path(tmp), studios=args.studios, width=640, height=360) as server,
    ):
        url = f"{server.url}/metrics"
        time.sleep(3)  # outputs started, a few segments written
        size = len(scrape(url))
        idle_start, cpu0 = time.monotonic(), server.cpu_seconds()
        time.sleep(2.0)
        idle_cpu_per_s = (server.cpu_seconds() - cpu0) / (time.monotonic() - idle_start)
        walls: list[float] = []
        start, cpu1 = time.monotonic(), server.cpu_seconds()
        for _ in range(args.scrapes):
            t = time.perf_counter()
            scrape(url)
            walls.append(time.perf_counter() - t)
        elapsed, cpu = time.monotonic() - start, server.cpu_seconds() - cpu1
        per_scrape = max(0.0, cpu - idle_cpu_per_s * elapsed) / args.scrapes
        print(
            f"{args.studios} studios configured: {size} bytes per scrape; wall median "
            f"{statistics.median(walls) * 1000:.1f} ms (p90 {sorted(walls)[int(0.9 * len(walls))] * 1000:.1f} ms); "
            f"server CPU {per_scrape * 1000:.1f} ms per scrape (idle {idle_cpu_per_s:.2f} core)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studios", type=int, default=8)
    parser.add_argument("--scrapes", type=int, default=200)
    main(parser.parse_args())
