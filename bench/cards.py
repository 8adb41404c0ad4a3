"""What graphics cost per program frame: blending cards (budget: three cards at 720p <= 0.5 ms)
and rendering one when its data changes.

    .venv/bin/python bench/cards.py [--size 1280x720] [--frames 600]

Prints ms per frame for the steady state (cards fully shown), for animation frames
(fade + slide: every pixel blended), and ms per re-render (Pillow + conversion to planes).
Frames are paced at 30 fps like the program clock, so a run takes about 12 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mixer.graphics import card as cardmod  # noqa: E402
from mixer.graphics.blend import sprite_from_rgba  # noqa: E402
from mixer.graphics.card import CardContent  # noqa: E402
from mixer.graphics.countdown import countdown_sprite  # noqa: E402
from mixer.graphics.director import CardOnAir, GraphicsDirector, GraphicsScene  # noqa: E402
from mixer.graphics.logo import LogoContent  # noqa: E402
from mixer.graphics.lowerthird import LowerThirdContent  # noqa: E402
from mixer.graphics.overlaystack import OverlayStack  # noqa: E402
from tests import samplecards  # noqa: E402

# The sample card as on air in the Wuhan show: sales counted, a flash-sale countdown.
SOUP = dataclasses.replace(
    samplecards.SOUP,
    product="wangji-chicken-soup",
    sold=1234,
    buy_url="https://shop.example.org/p/wangji-chicken-soup?show=wuhan-0510",
    countdown=True,
)
CAR = CardContent("dongfeng-ax7", "东风风神 AX7 乘用车", 119800, "东风汽车集团", was_price=135800, promo="立减1.6万")
TEA = CardContent("enshi-yulu-tea", "恩施玉露 绿茶", 198.0, "恩施玉露茶业", was_price=268.0, countdown=True)


def per_frame_ms(
    stack: OverlayStack, canvas: np.ndarray, w: int, h: int, frames: int, t0: float, fps: int, paced: bool = True
) -> tuple[float, float]:
    """Median and worst ms per frame over ``frames`` frames of program time starting at ``t0``.

    Paced in real time like the program clock, so the countdown's helper thread has the
    time it has on air to draw the next second ahead.
    """
    base = canvas.copy()
    samples = []
    start_real = time.monotonic()
    for i in range(frames):
        canvas[:] = base  # not timed: a fresh composed picture each tick
        if paced:
            time.sleep(max(0.0, start_real + i / fps - time.monotonic()))
        now = t0 + i / fps
        start = time.perf_counter()
        stack.blend_into(canvas, w, h, now)
        samples.append(time.perf_counter() - start)
    return 1000 * statistics.median(samples), 1000 * max(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--frames", type=int, default=150, help="per measurement, paced at 30 fps")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    canvas = np.random.default_rng(1).integers(16, 235, (h * 3 // 2, w), dtype=np.uint8)
    clock = [1000.0]
    stack = OverlayStack()
    director = GraphicsDirector(stack, w, h, clock=lambda: clock[0], wall=lambda: clock[0])
    three = GraphicsScene(
        cards=(CardOnAir("main", SOUP, 1300.0), CardOnAir("tag1", CAR), CardOnAir("tag2", TEA, 1200.0))
    )
    director.apply(director.prepare(three))
    print(f"canvas {w}x{h}, {args.frames} frames")
    anim, anim_max = per_frame_ms(stack, canvas, w, h, 9, 1000.0, 30)
    steady, steady_max = per_frame_ms(stack, canvas, w, h, args.frames, 1001.0, 30)
    print(f"3 cards, steady (2 countdowns ticking):     {steady:.3f} ms/frame (worst {steady_max:.3f})")
    print(f"3 cards, animating in (fade + slide):       {anim:.3f} ms/frame (worst {anim_max:.3f})")
    hot, _ = per_frame_ms(stack, canvas, w, h, 3000, 1001.0, 3000, paced=False)
    print(f"3 cards, steady, back to back (hot caches): {hot:.3f} ms/frame")
    full = GraphicsScene(
        cards=three.cards,
        lower_third=LowerThirdContent("beijing", "王主持", "北京直播间 · 北京 Beijing", "正在介绍：汪集鸡汤"),
        logo=LogoContent("为湖北拼单 · Buy for Hubei 0510"),
    )
    clock[0] = 2000.0
    director.apply(director.prepare(full))
    steady_all, steady_all_max = per_frame_ms(stack, canvas, w, h, args.frames, 2001.0, 30)
    print(f"3 cards + lower third + logo, steady:       {steady_all:.3f} ms/frame (worst {steady_all_max:.3f})")

    scale = director.layout.scale
    renders = []
    for i in range(20):
        changed = CardContent(**{**SOUP.__dict__, "stock": 5000 - i})  # a new key: a real re-render
        start = time.perf_counter()
        sprite_from_rgba(cardmod.render_main(changed, scale).image)
        renders.append(time.perf_counter() - start)
    print(f"main card re-render (Pillow + planes):      {1000 * statistics.median(renders):.2f} ms")
    spot = cardmod.render_main(SOUP, scale).countdown
    assert spot is not None
    ticks = []
    for sec in range(3000, 3020):
        start = time.perf_counter()
        countdown_sprite(spot.width, spot.height, spot.style, sec)
        ticks.append(time.perf_counter() - start)
    print(f"countdown patch, once per second:           {1000 * statistics.median(ticks):.3f} ms")


if __name__ == "__main__":
    main()
