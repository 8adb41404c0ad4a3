"""Capacity: N camera-like studios on one server, against Debian's ffmpeg doing the same media job.

    unshare -n sh -c 'scripts/loopback-net.sh && .venv/bin/python bench/scale.py'
    .venv/bin/python bench/scale.py --points 4 8 16 16s 24s 40s --seconds 20   (the default)
    .venv/bin/python bench/scale.py --workers auto   (studio ingest in worker processes)

Each studio is a 720p30 H.264 clip at 2.5 Mbit/s with a keyframe a second (testsrc2 turned
to its own hue, with temporal noise, so it decodes like a camera, not a flat pattern) and an
Opus tone, made once with Debian's ffmpeg (bench/replaystudio.py, kept in ``--clips``) and
replayed over WHIP without re-encoding, several studios per publisher process.

A point ``N`` has every studio decoded fully; ``Ns`` has all but program (s0) and preview
(s1) in standby (rooms/decodepolicy.py). The server shows s0 with a product card, previews
s1, and runs its usual outputs (HLS, HTTP-FLV, multiview). Measured over ``--seconds``: the
server's CPU (all threads, /proc), the program's frame rate and late ticks, studios that
received >= 25 fps, packets lost (RTP sequence gaps; on loopback every loss is at the server)
and the datagrams the kernel dropped at our sockets, and packets received per second per
server core. Standby points then cut to a standby studio and report how long until it was
decoded fully (its keyframe; the clips have one each second, replayers do not answer PLI).

In the same run, for full points, ``ffmpeg`` decodes the same clips (each read at its real
rate, -re), overlays a card on the first, encodes it once with x264 veryfast (zerolatency,
as our program encoder) plus AAC, and writes HLS; the other inputs are decoded into a null
output. Its CPU and the ratio ours/ffmpeg are printed with our figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import SHOW, BenchServer, api, cpu_seconds, report, stop_processes  # noqa: E402
from bench.replaystudio import make_clip  # noqa: E402

WARM_UP_S = 4.0
API_TIMEOUT_S = 30.0  # an overloaded server answers late: late is a result, not a crash
CARD = "card.png"


def clips_for(directory: Path, count: int) -> list[Path]:
    """One clip per studio, hue spread round the colour circle (made once, then reused)."""
    hues = [i * 360 / max(count, 40) for i in range(count)]
    return [make_clip(directory / f"s{i}.mkv", hue=hue, tone_hz=300 + 20 * i) for i, hue in enumerate(hues)]


def card_png(directory: Path) -> Path:
    path = directory / CARD
    if not path.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=0x1a2a6c@0.85:s=560x160,format=rgba",
             "-vf", "drawbox=x=0:y=0:w=560:h=36:color=0xd4af37@1:t=fill", "-frames:v", "1", str(path)],
            check=True,
        )  # fmt: skip
    return path


def spawn_replays(
    server: BenchServer, clips: list[Path], per_process: int, log: Any = subprocess.DEVNULL
) -> list[subprocess.Popen[bytes]]:
    procs = []
    for start in range(0, len(clips), per_process):
        cmd = [sys.executable, str(ROOT / "bench" / "replaystudio.py")]
        for i in range(start, min(start + per_process, len(clips))):
            cmd += ["--clip", str(clips[i]), "--whip-url", server.whip_url(f"s{i}"), "--token", server.token(f"s{i}")]
        procs.append(subprocess.Popen(cmd, stderr=log))
    return procs


def _state(server: BenchServer) -> dict[str, Any]:
    return api(server.port, f"/api/shows/{SHOW}", timeout=API_TIMEOUT_S)


def _command(server: BenchServer, path: str, body: dict[str, object]) -> None:
    api(server.port, f"/api/shows/{SHOW}/{path}", body, timeout=API_TIMEOUT_S)


def _studio_counters(state: dict[str, Any]) -> dict[str, dict[str, float]]:
    keys = ("packets_expected", "packets_lost", "socket_drops", "frames_received", "video_frames")
    return {s["id"]: {k: float((s["stats"] or {}).get(k) or 0) for k in keys} for s in state["studios"]}


def run_ours(
    n: int, standby: bool, seconds: float, clips: list[Path], per_process: int, log: Path, workers: int | str = 0
) -> dict[str, Any]:
    extra = f"standby_decode = {'true' if standby else 'false'}"
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp,
        log.open("ab") as log_file,
        BenchServer(Path(tmp), n, show_extra=extra, log=log_file, ingest_workers=workers) as server,
    ):
        pubs = spawn_replays(server, clips[:n], per_process, log_file)
        try:
            server.wait_online(n, timeout=30 + 2 * n)
            _command(server, "cut", {"studio": "s0"})
            _command(server, "preview", {"studio": "s1"})
            _command(server, "cards", {"product": "p0", "slot": "main"})
            time.sleep(WARM_UP_S)
            before, t0 = _state(server), time.monotonic()
            cpu0, loop0 = server.tree_cpu_seconds(), server.cpu_seconds(server.pid)
            time.sleep(seconds)
            after, t1 = _state(server), time.monotonic()
            cpu1, loop1 = server.tree_cpu_seconds(), server.cpu_seconds(server.pid)
            dt = t1 - t0
            c0, c1 = _studio_counters(before), _studio_counters(after)
            delta = {sid: {k: c1[sid][k] - c0[sid].get(k, 0) for k in c1[sid]} for sid in c1}
            expected = sum(d["packets_expected"] for d in delta.values())
            lost = sum(d["packets_lost"] for d in delta.values())
            cores = (cpu1 - cpu0) / dt
            loop_cores = (loop1 - loop0) / dt  # the main thread: the event loop, where every packet is handled
            result: dict[str, Any] = {
                "studios": n,
                "mode": ("standby" if standby else "full") + (f", {workers} workers" if workers else ""),
                "server_cores": round(cores, 2),
                "program_fps": round((after["mixer"]["ticks"] - before["mixer"]["ticks"]) / dt, 1),
                "late_ticks": after["mixer"]["late_ticks"] - before["mixer"]["late_ticks"],
                "studios_25fps": sum(1 for d in delta.values() if d["frames_received"] / dt >= 25),
                "received_fps_min": round(min(d["frames_received"] / dt for d in delta.values()), 1),
                "decoded_fps_total": round(sum(d["video_frames"] for d in delta.values()) / dt, 1),
                "packets_lost": int(lost),
                "loss_pct": round(100 * lost / expected, 2) if expected else None,
                "socket_drops": int(sum(d["socket_drops"] for d in delta.values())),
                "packets_per_s": round(expected / dt),
                "packets_per_s_per_core": round(expected / dt / cores) if cores else None,
                "event_loop_cores": round(loop_cores, 2),
                "packets_per_s_per_loop_core": round(expected / dt / loop_cores) if loop_cores else None,
                "load_avg_1m": round(os.getloadavg()[0], 1),  # the machine is shared: how busy it was
            }
            if standby and n > 2:
                result["cut_to_standby_ms"] = _cut_to_standby(server, f"s{n - 1}")
            return result
        finally:
            stop_processes(pubs)


def _cut_to_standby(server: BenchServer, studio: str) -> int | None:
    """Cut to a standby studio: ms until it decodes fully again (from its keyframe)."""
    _command(server, "cut", {"studio": studio})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.5)
        stats = next(s["stats"] for s in _state(server)["studios"] if s["id"] == studio) or {}
        if stats.get("keyframes_rare"):
            return 0  # decoded fully in standby already (its keyframes come too seldom)
        if stats.get("decode_level") == "full" and stats.get("decode_resumed_ms") is not None:
            return int(stats["decode_resumed_ms"])
    return None


def run_ffmpeg(clips: list[Path], card: Path, seconds: float, out: Path) -> float:
    """CPU cores Debian's ffmpeg uses for the same job (decode all, composite one, one encode, HLS)."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = ["ffmpeg", "-v", "error", "-y"]
    for clip in clips:
        cmd += ["-stream_loop", "-1", "-re", "-i", str(clip)]
    cmd += ["-loop", "1", "-framerate", "30", "-i", str(card)]
    n = len(clips)
    cmd += [
        "-filter_complex", f"[0:v][{n}:v]overlay=x=40:y=main_h-overlay_h-40:shortest=1[pgm]",
        "-map", "[pgm]", "-map", "0:a",
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-b:v", "2500k",
        "-maxrate", "2500k", "-bufsize", "2500k", "-g", "60", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k",
        "-f", "hls", "-hls_time", "2", "-hls_list_size", "6", "-hls_flags", "delete_segments",
        str(out / "index.m3u8"),
    ]  # fmt: skip
    if n > 1:
        for i in range(1, n):
            cmd += ["-map", f"{i}:v", "-map", f"{i}:a"]
        cmd += ["-f", "null", "-"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    try:
        time.sleep(WARM_UP_S)
        if proc.poll() is not None:
            raise RuntimeError(f"ffmpeg ended early ({proc.returncode})")
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        return (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
    finally:
        stop_processes([proc])


def parse_point(text: str) -> tuple[int, bool]:
    standby = text.endswith("s")
    return int(text.rstrip("s")), standby


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--points", nargs="+", default=["4", "8", "16", "16s", "24s", "40s"])
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--clips", type=Path, default=Path(tempfile.gettempdir()) / "broadcast-bench-clips")
    p.add_argument("--per-process", type=int, default=4, help="studios per replaying process")
    p.add_argument("--no-ffmpeg", action="store_true")
    p.add_argument("--workers", default="0", help='ingest.workers: 0 (in the server process), N or "auto"')
    p.add_argument("--log", type=Path, default=Path(tempfile.gettempdir()) / "bench-scale-server.log")
    args = p.parse_args()
    points = [parse_point(x) for x in args.points]
    most = max(n for n, _ in points)
    print(f"making {most} clips in {args.clips} (once)...", file=sys.stderr, flush=True)
    clips = clips_for(args.clips, most)
    card = card_png(args.clips)
    print("| studios | mode | server cores | program fps | late ticks | studios >= 25 fps | loss at server "
          "(packets, %) | socket drops | packets/s | packets/s per core | event loop cores | packets/s per "
          "event-loop core | cut to standby: full decode | "
          "ffmpeg cores | ours / ffmpeg | load avg |")  # fmt: skip
    print("| ---: | --- |" + " ---: |" * 14)
    for n, standby in points:
        try:
            workers = args.workers if args.workers == "auto" else int(args.workers)
            r = run_ours(n, standby, args.seconds, clips, args.per_process, args.log, workers)
        except (OSError, RuntimeError) as exc:  # (timeouts are OSErrors) the point failed: say so, go on
            print(f"| {n} | {'standby' if standby else 'full'} | failed: {exc} |", flush=True)
            continue
        if not standby and not args.no_ffmpeg:
            with tempfile.TemporaryDirectory(prefix="bench-ffmpeg-") as tmp:
                r["ffmpeg_cores"] = round(run_ffmpeg(clips[:n], card, args.seconds, Path(tmp)), 2)
            r["ratio"] = round(r["server_cores"] / r["ffmpeg_cores"], 2) if r["ffmpeg_cores"] else None
        cut = r.get("cut_to_standby_ms")
        report(
            f"| {n} | {r['mode']} | {r['server_cores']} | {r['program_fps']} | {r['late_ticks']} | "
            f"{r['studios_25fps']}/{n} | {r['packets_lost']} ({r['loss_pct']} %) | {r['socket_drops']} | "
            f"{r['packets_per_s']} | {r['packets_per_s_per_core']} | {r['event_loop_cores']} | "
            f"{r['packets_per_s_per_loop_core']} | {'' if cut is None else f'{cut} ms'} | "
            f"{r.get('ffmpeg_cores', '')} | {r.get('ratio', '')} | {r['load_avg_1m']} |",
            r,
        )


if __name__ == "__main__":
    main()
