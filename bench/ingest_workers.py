"""Studio ingest in the server process vs in worker processes (``ingest.workers``).

N camera-like studios (720p30 H.264 baseline at ~2.5 Mbit/s: ``testsrc2`` with a hue per
studio and temporal noise, encoded ONCE into a clip and replayed through FFmpeg's WHIP
muxer by cheap processes that only send packets) publish to one show; the program (720p30,
x264) is on air with a studio cut in. For each mode the bench reports the server's cores
(the main process and, with workers, the workers: /proc), the program's fps and late ticks,
studios received at >= 25 fps, and the loss the studios' stats report at the server.
Also the cost of the shared-memory hand-off per 720p picture (rooms/frameslots.py).

    .venv/bin/python bench/ingest_workers.py [--studios 4 8] [--workers 0 auto] [--seconds 20]

Run it in a loopback-only namespace like the tests (the machine is shared: run it twice).
"""

from __future__ import annotations

import argparse
import contextlib
import fractions
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import av  # noqa: E402

from bench.harness import BenchServer, stop_processes  # noqa: E402
from rooms.dtlscert import write_p256_certificate  # noqa: E402

FPS = 30
CLIP_S = 4


def make_clip(path: Path, hue: int, bitrate: int = 2_500_000) -> None:
    """A camera-like 720p30 clip (H.264 baseline, 1 s GOP, no B-frames) for one studio."""
    graph = f"testsrc2=size=1280x720:rate={FPS},hue=h={hue},noise=alls=12:allf=t"
    source = av.open(graph, format="lavfi")
    out = av.open(str(path), "w", format="mp4")
    stream = out.add_stream("libx264", rate=FPS)
    stream.width, stream.height, stream.pix_fmt, stream.bit_rate = 1280, 720, "yuv420p", bitrate
    stream.codec_context.max_b_frames = 0
    stream.options = {
        "preset": "veryfast",
        "profile": "baseline",
        "x264-params": f"keyint={FPS}:min-keyint={FPS}:scenecut=0:bframes=0",
        "maxrate": str(bitrate),
        "bufsize": str(bitrate // 2),
    }
    for i, frame in enumerate(source.decode(video=0)):
        if i >= CLIP_S * FPS:
            break
        frame.pict_type = av.video.frame.PictureType.NONE  # lavfi marks every frame I
        frame.pts, frame.time_base = i, fractions.Fraction(1, FPS)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))
    out.close()
    source.close()


def publish(url: str, token: str, clip: Path) -> None:
    """Child process: replay ``clip`` over WHIP in real time, looping, until killed."""
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = write_p256_certificate(Path(tmp))
        source = av.open(str(clip))
        packets = [p for p in source.demux(video=0) if p.size]
        template = source.streams.video[0]
        out = av.open(
            url,
            "w",
            format="whip",
            container_options={"authorization": token, "cert_file": str(cert), "key_file": str(key)},
        )
        stream = out.add_stream_from_template(template)
        tb = fractions.Fraction(1, FPS)
        t0 = time.monotonic()
        n = 0
        while True:
            for packet in packets:
                due = t0 + n / FPS
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                packet.stream = stream
                packet.pts = packet.dts = n
                packet.time_base = tb
                out.mux(packet)
                n += 1


def run(studios: int, workers: str, seconds: float, clips: list[Path], tmp: Path) -> dict[str, Any]:
    extra = "video_bitrate = 2500000"
    with BenchServer(tmp, studios, 1280, 720, FPS, show_extra=extra, ingest_workers=workers) as server:
        pubs = [
            subprocess.Popen(
                [sys.executable, __file__, "--publish", server.whip_url(f"s{i}"), server.token(f"s{i}"), str(clip)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i, clip in ((i, clips[i % len(clips)]) for i in range(studios))
        ]
        try:
            server.wait_online(studios, timeout=60)
            server.api("/api/shows/bench/cut", {"studio": "s0"})
            time.sleep(5)  # settle
            state0 = server.state()
            load = os.getloadavg()[0]
            cpu0, t0 = server.tree_cpu_seconds(), time.monotonic()
            api_ms = []  # how long the control API takes to answer: is the event loop starved?
            while time.monotonic() < t0 + seconds:
                sent = time.monotonic()
                with contextlib.suppress(urllib.error.HTTPError):  # 503 while degraded still answers
                    server.api("/healthz")
                api_ms.append(1000 * (time.monotonic() - sent))
                time.sleep(max(0.0, 0.25 - (time.monotonic() - sent)))
            cpu1, t1 = server.tree_cpu_seconds(), time.monotonic()
            state1 = server.state()
        finally:
            stop_processes(pubs)
    m0, m1 = state0["mixer"], state1["mixer"]
    stats = [s["stats"] or {} for s in state1["studios"]]
    fps = [float(s.get("fps") or 0) for s in stats]
    lost = sum(int(s.get("packets_lost") or 0) for s in stats) - sum(
        int((s["stats"] or {}).get("packets_lost") or 0) for s in state0["studios"]
    )
    expected = sum(int(s.get("packets_expected") or 0) for s in stats) - sum(
        int((s["stats"] or {}).get("packets_expected") or 0) for s in state0["studios"]
    )
    ticks = m1["encoded_frames"] - m0["encoded_frames"]
    return {
        "studios": studios,
        "workers": workers,
        "cores": (cpu1 - cpu0) / (t1 - t0),
        "program_fps": ticks / (t1 - t0),
        "late": m1.get("late_ticks", 0) - m0.get("late_ticks", 0),
        "at_25": sum(1 for f in fps if f >= 25),
        "median_fps": statistics.median(fps) if fps else 0,
        "loss_pct": 100 * lost / expected if expected > 0 else 0.0,
        "api_p50_ms": statistics.median(api_ms),
        "api_max_ms": max(api_ms),
        "load": load,
    }


def handoff_cost(n: int = 300) -> tuple[float, float]:
    """CPU ms per 720p picture: into the frame slots (worker), out into a new frame (main process)."""
    import numpy as np

    from rooms.frameslots import FrameSlots

    ring = FrameSlots.create()
    writer = FrameSlots.attach(ring.name)
    frame = av.VideoFrame.from_ndarray(np.random.randint(0, 255, (1080, 1280), np.uint8), format="yuv420p")
    try:  # CPU time, not wall: the machine is shared
        t0 = time.thread_time()
        for _ in range(n):
            slot, seq = writer.write(frame)
        t1 = time.thread_time()
        for _ in range(n):
            ring.read(slot, seq)
        t2 = time.thread_time()
    finally:
        writer.close()
        ring.close()
    return (t1 - t0) / n * 1000, (t2 - t1) / n * 1000


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--publish":
        publish(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studios", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--workers", nargs="+", default=["0", "auto"])
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    write_ms, read_ms = handoff_cost()
    print(f"hand-off per 720p I420 picture, CPU: write {write_ms:.2f} ms (worker), read {read_ms:.2f} ms (main)")
    with tempfile.TemporaryDirectory(prefix="ingest-workers-") as tmp:
        clips = [Path(tmp) / f"clip{i}.mp4" for i in range(4)]
        for i, clip in enumerate(clips):
            make_clip(clip, hue=i * 90)
        print("studios workers  cores  program_fps  late  at>=25fps  median_fps  loss%  api_p50/max_ms  load")
        for studios in args.studios:
            for workers in args.workers:
                run_dir = Path(tmp) / f"run-{studios}-{workers}"
                run_dir.mkdir()
                r = run(studios, workers, args.seconds, clips, run_dir)
                pfps = f"{r['program_fps']:.1f}"
                print(
                    f"{studios:7d} {workers:>7s}  {r['cores']:.2f}  {pfps:>11s}  {r['late']:4d}"
                    f"  {r['at_25']:5d}/{studios:<3d}  {r['median_fps']:10.1f}  {r['loss_pct']:5.2f}"
                    f"  {r['api_p50_ms']:6.1f}/{r['api_max_ms']:<7.1f}  {r['load']:.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
