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
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rooms.jointoken import JoinTokens  # noqa: E402
from rooms.syntheticstudio import spawn_studio  # noqa: E402

OPERATOR = "bench-operator-token"
SECRET = "bench-link-secret-0123456789"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def write_config(directory: Path, port: int, studios: int, width: int, height: int, fps: int) -> Path:
    lines = [
        "[server]",
        f"listen_port = {port}",
        f'operator_token = "{OPERATOR}"',
        f'link_secret = "{SECRET}"',
        'ice_hosts = ["127.0.0.1"]',
        f'data_dir = "{directory / "data"}"',
        "[[shows]]",
        'id = "bench"',
        'title = "Bench"',
        f"width = {width}",
        f"height = {height}",
        f"fps = {fps}",
    ]
    for i in range(studios):
        lines += ["[[shows.studios]]", f'id = "s{i}"', f'name = "Studio {i}"']
    for i in range(3):
        lines += ["[[shows.products]]", f'id = "p{i}"', f'name = "汪集鸡汤 {i}"', 'enterprise = "武汉汪集鸡汤有限公司"',
                  f"price = {39.9 + i}", "was_price = 59.9", 'promo = "买二赠一"', "stock = 5000"]  # fmt: skip
    path = directory / "bench.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def api(port: int, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as res:
        return json.loads(res.read())


def run_one(
    studios: int, seconds: float, width: int, height: int, fps: int, effects: bool = False
) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        port = free_port()
        config = write_config(Path(tmp), port, studios, width, height, fps)
        server = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "serve", "--config", str(config)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        pubs: list[subprocess.Popen[bytes]] = []
        try:
            deadline = time.time() + 20
            while True:
                try:
                    api(port, "/api/shows/bench")
                    break
                except OSError:
                    if time.time() > deadline:
                        raise RuntimeError("server did not start") from None
                    time.sleep(0.2)
            tokens = JoinTokens(SECRET, 3600)
            for i in range(studios):
                pubs.append(
                    spawn_studio(
                        f"http://127.0.0.1:{port}/whip/bench/s{i}",
                        tokens.mint("bench", f"s{i}"),
                        f"Studio {i}",
                        tone_hz=440 + 60 * i,
                        width=width,
                        height=height,
                        fps=fps,
                        verbose=False,
                    )
                )
            deadline = time.time() + 30
            while True:
                state = api(port, "/api/shows/bench")
                online = sum(1 for s in state["studios"] if s["online"])  # type: ignore[union-attr]
                if online == studios:
                    break
                if time.time() > deadline:
                    raise RuntimeError(f"only {online}/{studios} studios came online")
                time.sleep(0.3)
            if effects:
                # Three cards on air (one with a ticking countdown) and fades instead of cuts.
                for slot, product in (("main", "p0"), ("tag1", "p1"), ("tag2", "p2")):
                    api(port, "/api/shows/bench/cards", {"product": product, "slot": slot, "countdown_s": 600})
                api(port, "/api/shows/bench/cut", {"studio": "s0"})
            time.sleep(3)  # warm-up: decoders and encoder settle
            before = api(port, "/api/shows/bench")["mixer"]
            cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
            n = 0
            while time.monotonic() - t0 < seconds:
                if effects and studios > 1:
                    api(port, "/api/shows/bench/preview", {"studio": f"s{(n + 1) % studios}"})
                    api(port, "/api/shows/bench/take", {"transition": "fade", "duration_ms": 500})
                else:
                    api(port, "/api/shows/bench/cut", {"studio": f"s{n % studios}"})
                n += 1
                time.sleep(2)
            cpu1, t1 = cpu_seconds(server.pid), time.monotonic()
            after = api(port, "/api/shows/bench")["mixer"]
            ticks = after["ticks"] - before["ticks"]  # type: ignore[index,operator]
            return {
                "studios": studios,
                "effects": effects,
                "size": f"{width}x{height}@{fps}",
                "seconds": round(t1 - t0, 1),
                "server_cores": round((cpu1 - cpu0) / (t1 - t0), 3),
                "program_fps": round(ticks / (t1 - t0), 2),
                "late_ticks": after["late_ticks"] - before["late_ticks"],  # type: ignore[index,operator]
                "encoder_dropped": after["encoder_dropped"] - before["encoder_dropped"],  # type: ignore[index,operator]
                "compose_ms_avg": after["compose_ms_avg"],
                "encode_ms_avg": after["encode_ms_avg"],
            }
        finally:
            for proc in pubs:
                proc.terminate()
            for proc in pubs:
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
            server.terminate()
            server.wait(10)


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
        print(
            f"{r['studios']:>7}  {r['size']:<13} {r['server_cores']:>6}  {r['program_fps']:>5}  "
            f"{r['late_ticks']:>4}  {r['encoder_dropped']:>7}  {r['compose_ms_avg']!s:>10}  {r['encode_ms_avg']!s:>9}",
            flush=True,
        )
        print(json.dumps(r), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
