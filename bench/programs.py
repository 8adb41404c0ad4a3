"""CPU of a show's second program (portrait beside landscape) against landscape only.

Starts ``broadcast serve`` as its own process with one show and N synthetic 720p30
studios, cuts between them every 2 s with a card on air, and reads the server's CPU from
/proc over a window, once with ``programs = ["landscape"]`` and once with
``["landscape", "portrait"]``. The cost of a second show is the whole landscape-only figure
(its own studios' receive and decode, mix, encode and outputs): that is what a separate
9:16 show would cost.

    unshare -n sh -c 'scripts/loopback-net.sh && .venv/bin/python bench/programs.py --studios 3 --seconds 20'

``--unit`` measures the steps in this process instead (CPU time of all threads, less sensitive
to a loaded machine than a server's frame rate): per program frame, compose one studio into
each canvas (the portrait one cropped and scaled from a 1280x720 camera) and encode it
(x264 veryfast, 2 threads, as the show does).
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


def run_one(programs: list[str], studios: int, seconds: float) -> dict[str, object]:
    extra = "programs = [" + ", ".join(f'"{p}"' for p in programs) + "]"
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        BenchServer(Path(tmp), studios, show_extra=extra) as server,
    ):
        pubs: list[subprocess.Popen[bytes]] = []
        try:
            for i in range(studios):
                pubs.append(
                    spawn_studio(
                        server.whip_url(f"s{i}"), server.token(f"s{i}"), f"Studio {i}", tone_hz=440 + 60 * i,
                        width=1280, height=720, fps=30, verbose=False,
                    )
                )  # fmt: skip
            server.wait_online(studios)
            server.api("/api/shows/bench/cards", {"product": "p0", "slot": "main"})
            time.sleep(3)  # warm-up: decoders and encoders settle
            before = server.state()["mixer"]
            cpu0, t0 = server.cpu_seconds(), time.monotonic()
            n = 0
            while time.monotonic() - t0 < seconds:
                server.api("/api/shows/bench/cut", {"studio": f"s{n % studios}"})
                n += 1
                time.sleep(2)
            cpu1, t1 = server.cpu_seconds(), time.monotonic()
            after = server.state()["mixer"]
            return {
                "programs": "+".join(programs),
                "studios": studios,
                "seconds": round(t1 - t0, 1),
                "server_cores": round((cpu1 - cpu0) / (t1 - t0), 3),
                "program_fps": round((after["ticks"] - before["ticks"]) / (t1 - t0), 2),
                "late_ticks": after["late_ticks"] - before["late_ticks"],
                "compose_ms_avg": after["compose_ms_avg"],  # every program's canvas, per tick
                "encode_ms_avg": [p["encode_ms_avg"] for p in after["programs"]],
                "output_fps": [p["output_fps"] for p in after["programs"]],
                "encoder_dropped": [p["encoder_dropped"] for p in after["programs"]],
            }
        finally:
            stop_processes(pubs)


def unit(frames: int) -> None:
    """CPU ms per frame of compose + encode of each program, in this process."""
    from fractions import Fraction

    import av

    from mixer.canvas import Canvas
    from mixer.encodedpacket import ProgramFormat
    from mixer.scene import Bus
    from rooms.testpattern import TestPattern

    pattern = TestPattern("bars", "Studio 0", 1280, 720, 30)
    sources = [(pattern.frame(i, 0.0), i) for i in range(30)]
    bus = Bus("single", ("s0",))
    for orientation, size, fit in (("landscape", (1280, 720), None), ("portrait", (720, 1280), "crop")):
        fmt = ProgramFormat(width=size[0], height=size[1], fps=30)
        canvas = Canvas(fmt, orientation, "Bench", "Back soon", fit=fit)
        canvas.compositor.configure(fit or "fit", (0, 0, 0))
        encoder = canvas.encoder._video.codec_context  # the same x264 settings as the show's
        compose = encode = 0.0
        for i in range(frames + 20):
            c0 = time.process_time()
            out = canvas.buffer()
            out[...] = canvas.compositor.compose(bus, {"s0": sources[i % 30]})
            c1 = time.process_time()
            frame = av.VideoFrame.from_ndarray(out, format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            encoder.encode(frame)
            c2 = time.process_time()
            if i >= 20:  # warmed up
                compose, encode = compose + c1 - c0, encode + c2 - c1
        print(
            f"{orientation:<10} {size[0]}x{size[1]}  compose {1000 * compose / frames:6.2f} ms  "
            f"encode {1000 * encode / frames:6.2f} ms CPU/frame  = {30 * (compose + encode) / frames:.3f} cores",
            flush=True,
        )
        canvas.encoder.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--studios", type=int, default=3)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--unit", action="store_true", help="compose + encode per program frame, in this process")
    p.add_argument("--frames", type=int, default=300)
    args = p.parse_args()
    if args.unit:
        for _ in range(args.runs):
            unit(args.frames)
        return
    print("run  programs             cores   fps    late  compose_ms  encode_ms         output_fps")
    for run in range(args.runs):
        for programs in (["landscape"], ["landscape", "portrait"]):
            r = run_one(programs, args.studios, args.seconds)
            report(
                f"{run:>3}  {r['programs']:<19} {r['server_cores']:>6}  {r['program_fps']:>5}  {r['late_ticks']:>4}  "
                f"{r['compose_ms_avg']!s:>10}  {r['encode_ms_avg']!s:<16}  {r['output_fps']}",
                r,
            )


if __name__ == "__main__":
    main()
