"""Compose cost per program frame: scale + layout (+ transition), as the clock does it.

Every tick gets NEW source frames (so the scalers really run, as with live
30 fps studios), and the result is copied into an output buffer like the clock
does for the encoder. Prints mean and 95th percentile ms per frame.

    .venv/bin/python bench/compose.py [--frames 300] [--size 1280x720] [--source 1280x720]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mixer.audiomixer import AudioMixer  # noqa: E402
from mixer.compositor import Compositor  # noqa: E402
from mixer.feedbuffer import FeedBuffer  # noqa: E402
from mixer.planes import packed  # noqa: E402
from mixer.scene import Bus  # noqa: E402
from mixer.transition import Blender  # noqa: E402


def sources(w: int, h: int, n: int = 4) -> list[av.VideoFrame]:
    rng = np.random.default_rng(1)
    out = []
    for _ in range(n):
        # Smooth content (gradients plus noise), closer to a camera than pure noise.
        gy = np.linspace(16, 235, w, dtype=np.float32)[None, :] * np.ones((h, 1), np.float32)
        planes = np.empty((h * 3 // 2, w), np.uint8)
        planes[:h] = np.clip(gy + rng.normal(0, 8, (h, w)), 0, 255)
        planes[h:] = rng.integers(100, 156, (h // 2, w), dtype=np.uint8)
        out.append(av.VideoFrame.from_ndarray(planes, format="yuv420p"))
    return out


def bench(name: str, frames: int, step: Callable[[int], None]) -> None:
    for i in range(20):  # warm up: scalers built, buffers touched
        step(i)
    times = []
    cpu0 = time.process_time()
    for i in range(frames):
        t0 = time.perf_counter()
        step(1000 + i)
        times.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / frames * 1000
    ms = np.array(times) * 1000
    # Median wall time is robust to other processes on a shared machine; CPU counts all threads
    # (swscale may scale in 2 threads).
    print(f"{name:40s} median {np.median(ms):6.3f}  p95 {np.percentile(ms, 95):6.3f}  cpu {cpu:6.3f} ms/frame")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", default="1280x720", help="program canvas WxH")
    ap.add_argument("--source", default="1280x720", help="studio picture WxH")
    args = ap.parse_args()
    W, H = (int(v) for v in args.size.split("x"))
    sw, sh = (int(v) for v in args.source.split("x"))
    srcs = {s: sources(sw, sh) for s in ("a", "b")}
    out = packed(W, H)
    tokens = itertools.count(1)
    print(f"canvas {W}x{H}, studios {sw}x{sh}, a new source frame every tick")

    def pictures(i: int) -> dict[str, tuple[av.VideoFrame, int]]:
        return {s: (f[i % len(f)], next(tokens)) for s, f in srcs.items()}

    for fit in ("fit", "crop", "blur"):
        for bus in (Bus("single", ("a",)), Bus("pip", ("a", "b")), Bus("side-by-side", ("a", "b"))):
            comp = Compositor(W, H, "title", "slate")
            comp.configure(fit, (0, 0, 0))

            def step(i: int, comp: Compositor = comp, bus: Bus = bus) -> None:
                np.copyto(out, comp.compose(bus, pictures(i)))

            bench(f"{bus.layout} ({fit})", args.frames, step)

    for kind, a, b in (
        ("fade", Bus("single", ("a",)), Bus("single", ("b",))),
        ("fade", Bus("pip", ("a", "b")), Bus("side-by-side", ("b", "a"))),
        ("wipe", Bus("single", ("a",)), Bus("single", ("b",))),
        ("slide", Bus("single", ("a",)), Bus("single", ("b",))),
    ):
        comp = Compositor(W, H, "title", "slate")
        blender = Blender(W, H)

        def tstep(
            i: int, comp: Compositor = comp, blender: Blender = blender, kind: str = kind, a: Bus = a, b: Bus = b
        ) -> None:
            p = pictures(i)
            blender.draw(kind, comp.compose(a, p, 0), comp.compose(b, p, 1), (i % 15 + 1) / 16, out)

        bench(f"{kind} {a.layout} -> {b.layout} (fit)", args.frames, tstep)

    # Audio for comparison: 2 studios, one tick (resample, FIFO, crossfade, limiter, meters).
    mixer = AudioMixer(48000, 48000 // 30)
    feeds = {s: FeedBuffer(s) for s in ("a", "b")}
    mixer.set_on_air(("a", "b"), 1440)
    tone = (np.sin(np.arange(1600) / 10) * 8000).astype(np.int16)

    def astep(i: int) -> None:
        for feed in feeds.values():
            frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo")
            frame.sample_rate = 48000
            feed.push_audio(frame)
        mixer.mix(feeds)

    bench("audio mix, 2 studios", args.frames, astep)


if __name__ == "__main__":
    main()
