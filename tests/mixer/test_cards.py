"""Product cards in pixels: the renderer draws real Chinese glyphs, the price and a struck-through
was-price; blending is exact at alpha 0 and 255 and right in between; the countdown ticks once a
second without re-rendering per frame; layouts fit landscape and portrait."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mixer.graphics import card as cardmod
from mixer.graphics.blend import canvas_planes, sprite_from_rgba
from mixer.graphics.card import CardContent, render_main, render_tag
from mixer.graphics.countdown import countdown_renders, countdown_text, seconds_left, wait_ahead
from mixer.graphics.director import CardOnAir, GraphicsDirector, GraphicsScene
from mixer.graphics.layout import Layout
from mixer.graphics.logo import LogoContent
from mixer.graphics.lowerthird import LowerThirdContent
from mixer.graphics.motion import Motion
from mixer.graphics.overlaystack import OverlayStack
from mixer.graphics.qr import QUIET_MODULES, qr_matrix
from mixer.graphics.text import font, format_price
from tests.samplecards import SOUP

NOTDEF = "\U0010fffd"  # a private-use code point no font has: draws the .notdef box


def _grey(img: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    return np.asarray(img.convert("L").crop(box), dtype=np.int16)


def _text_alone(text: str, size: int, bold: bool = True) -> np.ndarray:
    """``text`` drawn like the card draws it, cropped to its own ink box."""
    f = font(size, bold)
    img = Image.new("RGBA", (size * (len(text) + 2), size * 3), cardmod.PANEL)
    draw = ImageDraw.Draw(img)
    draw.text((size, size), text, font=f, fill=cardmod.INK)
    return _grey(img, tuple(int(v) for v in draw.textbbox((size, size), text, font=f)))  # type: ignore[arg-type]


def _yuv_canvas(w: int, h: int, y: int, u: int, v: int) -> np.ndarray:
    canvas = np.empty((h * 3 // 2, w), dtype=np.uint8)
    py, pu, pv = canvas_planes(canvas, w, h)
    py[:], pu[:], pv[:] = y, u, v
    return canvas


# -- the renderer -------------------------------------------------------------------------


def test_font_has_the_chinese_glyphs_not_notdef_boxes() -> None:
    f = font(28)
    box = np.asarray(f.getmask(NOTDEF))
    for ch in SOUP.name + SOUP.enterprise + (SOUP.promo or ""):
        glyph = np.asarray(f.getmask(ch))
        assert glyph.shape != box.shape or not np.array_equal(glyph, box), f"{ch!r} renders as .notdef"


def test_card_draws_the_name_in_chinese_glyphs() -> None:
    r = render_main(SOUP, 1.0)
    drawn = _grey(r.image, r.boxes["name"])
    right = _text_alone(SOUP.name, 28)
    boxes = _text_alone(NOTDEF * len(SOUP.name), 28)
    assert drawn.shape == right.shape
    assert np.abs(drawn - right).mean() < 3, "the card's name is not the font's glyphs"
    assert boxes.shape != drawn.shape or np.abs(drawn - boxes).mean() > 30
    # And the glyphs have real strokes: plenty of dark ink in the name's box.
    assert (drawn < 100).mean() > 0.15


def test_card_shows_the_price_large_and_the_was_price_struck_through() -> None:
    r = render_main(SOUP, 1.0)
    price = r.image.crop(r.boxes["price"])
    assert price.height >= 30, "the price is the largest text on the card"
    rgb = np.asarray(price.convert("RGB"), dtype=np.int16)
    red = (rgb[..., 0] > 150) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)
    assert red.mean() > 0.15, "price not drawn in red"
    # The ink is the digits "39.9" in the font (red on the card, dark here: compare shapes).
    ink = _grey(r.image, r.boxes["price"]) < 200
    digits = _text_alone("39.9", 52) < 200
    assert ink.shape == digits.shape and (ink != digits).mean() < 0.03

    x0, y0, x1, y1 = r.boxes["was_price"]
    was = _grey(r.image, (x0 - 1, y0, x1 + 1, y1)) < 200
    # The strike: a row inked across the whole width (digits alone never are).
    assert was.all(axis=1).any(), "was-price is not struck through"
    # Digits without a strike have no such row.
    plain = _text_alone("¥59.9", 20, bold=False) < 200
    assert not plain.all(axis=1).any()


def test_price_formatting() -> None:
    assert format_price(39.9) == "39.9"
    assert format_price(39.0) == "39"
    assert format_price(119800) == "119,800"
    assert format_price(3.05) == "3.05"
    assert format_price(0.1 + 0.2) == "0.3"
    assert format_price(0) == "0"


def test_long_names_are_fitted_not_overflowing() -> None:
    long = CardContent("x", "洪湖莲藕 5斤装 产地直发 新鲜脆嫩 农家自种 现挖现发", 29.9, "洪湖市农业合作社" * 3)
    r = render_main(long, 1.0)
    assert r.boxes["name"][2] <= r.image.width - 16
    assert r.boxes["enterprise"][2] <= r.image.width - 16
    t = render_tag(long, 1.0)
    assert t.boxes["name"][2] <= t.image.width


def test_product_image_is_drawn_scaled(tmp_path: Path) -> None:
    path = tmp_path / "soup.png"
    Image.new("RGB", (400, 300), (20, 90, 200)).save(path)
    r = render_main(CardContent("soup", "汪集鸡汤", 39.9, image=str(path)), 1.0)
    x0, y0, x1, y1 = r.boxes["image"]
    rgb = np.asarray(r.image.convert("RGB").crop((x0, y0, x1, y1)), dtype=np.int16)
    blue = (np.abs(rgb - (20, 90, 200)).sum(axis=2) < 12).mean()
    assert 0.6 < blue < 0.9  # 4:3 fitted into a square: bars above and below
    # A missing file leaves the picture out instead of failing the card.
    assert "image" not in render_main(CardContent("soup", "汪集鸡汤", 39.9, image=str(tmp_path / "no.png")), 1.0).boxes


def test_qr_code_is_the_buy_link_with_whole_pixel_modules() -> None:
    r = render_main(SOUP, 1.0)
    x0, y0, x1, y1 = r.boxes["qr"]
    modules = qr_matrix(SOUP.buy_url)
    n = modules.shape[0] + 2 * QUIET_MODULES
    assert (x1 - x0) % n == 0 and (y1 - y0) == (x1 - x0)
    step = (x1 - x0) // n
    grey = _grey(r.image, (x0, y0, x1, y1))
    centres = grey[step // 2 :: step, step // 2 :: step][QUIET_MODULES:-QUIET_MODULES, QUIET_MODULES:-QUIET_MODULES]
    assert np.array_equal(centres < 128, modules)


def test_stock_and_sold_line() -> None:
    assert cardmod.stock_line(5000, None) == "仅剩 5,000 件"
    assert cardmod.stock_line(10, 990) == "已售 990 件 · 仅剩 10 件"
    assert cardmod.stock_line(0, 1000).startswith("已售罄")
    assert cardmod.stock_line(None, None) == ""


# -- blending -------------------------------------------------------------------------------


def _three_alpha_sprite() -> Image.Image:
    """Left third transparent, middle opaque, right half-transparent; all the same red."""
    img = Image.new("RGBA", (60, 20), (200, 30, 40, 0))
    img.paste((200, 30, 40, 255), (20, 0, 40, 20))
    img.paste((200, 30, 40, 128), (40, 0, 60, 20))
    return img


@pytest.mark.parametrize("fade_path", [False, True])
def test_blend_alpha_0_255_and_partial(fade_path: bool) -> None:
    from mixer.graphics.blend import blend_sprite

    sprite = sprite_from_rgba(_three_alpha_sprite())
    w, h = 80, 40
    canvas = _yuv_canvas(w, h, 100, 90, 160)
    before = canvas.copy()
    # Fade 255 is the animation path at (nearly) full strength: same result within 1 level.
    blend_sprite(canvas, w, h, sprite, 10, 10, 255 if fade_path else 256)
    py, pu, pv = canvas_planes(canvas, w, h)
    by, bu, bv = canvas_planes(before, w, h)
    tol = 1 if fade_path else 0
    # alpha 0: untouched, bit for bit
    assert np.array_equal(py[10:30, 10:30], by[10:30, 10:30])
    assert np.array_equal(pu[5:15, 5:15], bu[5:15, 5:15])
    # alpha 255: exactly the sprite's colour
    sy, su, sv = int(sprite.y[0, 30]), int(sprite.u[0, 15]), int(sprite.v[0, 15])
    assert np.abs(py[10:30, 30:50].astype(int) - sy).max() <= tol
    assert np.abs(pu[5:15, 15:25].astype(int) - su).max() <= tol
    assert np.abs(pv[5:15, 15:25].astype(int) - sv).max() <= tol
    # alpha 128: half way (integer math: within one level of the float answer)
    a = 128 / 255
    assert np.abs(py[10:30, 50:70].astype(float) - (100 * (1 - a) + sy * a)).max() <= 1 + tol
    assert np.abs(pv[5:15, 25:35].astype(float) - (160 * (1 - a) + sv * a)).max() <= 1 + tol
    # nothing outside the sprite changed
    assert np.array_equal(py[:10], by[:10]) and np.array_equal(py[30:], by[30:])


def test_blend_matches_a_float_reference_for_any_alpha() -> None:
    from mixer.graphics.blend import blend_sprite

    rng = np.random.default_rng(7)
    rgba = rng.integers(0, 256, (32, 48, 4), dtype=np.uint8)
    sprite = sprite_from_rgba(Image.fromarray(rgba, "RGBA"))
    w, h = 64, 48
    canvas = rng.integers(16, 236, (h * 3 // 2, w), dtype=np.uint8)
    before = canvas.copy()
    blend_sprite(canvas, w, h, sprite, 8, 6)
    a = sprite.a_y / 256
    expect = canvas_planes(before, w, h)[0][6:38, 8:56] * (1 - a) + sprite.y * a
    assert np.abs(canvas_planes(canvas, w, h)[0][6:38, 8:56] - expect).max() <= 1.0


def test_blend_clips_at_the_canvas_edges() -> None:
    from mixer.graphics.blend import blend_sprite

    sprite = sprite_from_rgba(Image.new("RGBA", (40, 20), (255, 255, 255, 255)))
    w, h = 64, 32
    for x, y in [(-30, 0), (50, 20), (-100, -100), (200, 5)]:
        for fade in (256, 100):
            canvas = _yuv_canvas(w, h, 16, 128, 128)
            blend_sprite(canvas, w, h, sprite, x, y, fade)
    canvas = _yuv_canvas(w, h, 16, 128, 128)
    blend_sprite(canvas, w, h, sprite, 50, 20)
    py = canvas_planes(canvas, w, h)[0]
    assert (py[20:, 50:] == 235).all() and (py[:20] == 16).all() and (py[:, :50] == 16).all()


def test_opaque_panels_are_copied_and_only_their_edges_blended() -> None:
    sprite = sprite_from_rgba(render_main(SOUP, 1.0).image)
    core = sprite.luma.core
    assert core is not None
    core_area = (core[2] - core[0]) * (core[3] - core[1])
    assert core_area > 0.8 * sprite.width * sprite.height
    assert sum((e[2] - e[0]) * (e[3] - e[1]) for e in sprite.luma.edges) < 0.2 * sprite.width * sprite.height


# -- on air: director, countdown, animation ---------------------------------------------------


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _director(w: int = 1280, h: int = 720) -> tuple[GraphicsDirector, OverlayStack, Clock]:
    stack, clock = OverlayStack(), Clock()
    # Wall and monotonic clocks read the same here, so deadlines are easy to state.
    return GraphicsDirector(stack, w, h, clock=clock, wall=clock), stack, clock


def _frame(stack: OverlayStack, w: int, h: int, now: float) -> np.ndarray:
    canvas = _yuv_canvas(w, h, 60, 100, 100)
    stack.blend_into(canvas, w, h, now)
    return canvas


def test_countdown_ticks_each_second_and_draws_nothing_per_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    w, h = 1280, 720
    director, stack, clock = _director(w, h)
    content = CardContent("soup", "汪集鸡汤", 39.9, promo="买二赠一", countdown=True)
    director.apply(director.prepare(GraphicsScene(cards=(CardOnAir("main", content, clock.t + 65.5),))))
    (x, y, cw, ch) = director.on_air()["main"]
    spot = render_main(content, 1.0).countdown
    assert spot is not None
    t0 = clock.t + 1.0  # past the entry animation; 64.5 s left: shows 01:05
    assert countdown_text(seconds_left(clock.t + 65.5, t0)) == "01:05"

    def spot_pixels(canvas: np.ndarray) -> np.ndarray:
        return canvas[y + spot.y : y + spot.y + spot.height, x + spot.x : x + spot.x + spot.width].copy()

    a = _frame(stack, w, h, t0)
    b = _frame(stack, w, h, t0 + 0.4)  # same second
    c = _frame(stack, w, h, t0 + 0.6)  # 63.9 s left: 01:04
    assert np.array_equal(a, b)
    assert not np.array_equal(spot_pixels(a), spot_pixels(c)), "countdown did not tick"
    outside = np.ones(a.shape, dtype=bool)
    outside[y + spot.y : y + spot.y + spot.height, x + spot.x : x + spot.x + spot.width] = False
    outside[h:] = True  # chroma rows: compare them too, the spot's chroma is elsewhere
    assert (a[:h] != c[:h])[outside[:h]].sum() == 0, "only the countdown changes from second to second"

    # 90 frames across 3 seconds: Pillow draws only the new seconds' patches, no card.
    wait_ahead()
    drawn: list[str] = []
    real_text = ImageDraw.ImageDraw.text

    def counting_text(self: ImageDraw.ImageDraw, xy: object, text: str, *args: object, **kw: object) -> None:
        drawn.append(text)
        real_text(self, xy, text, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", counting_text)
    renders = countdown_renders()
    card_misses = render_main.cache_info().misses
    for i in range(90):
        _frame(stack, w, h, t0 + 2 + i / 30)
    wait_ahead()
    # 01:03 .. 01:00 shown, and 00:59 drawn ahead (in the helper thread): 5 patches. On a loaded
    # machine the clock may need a second before the helper thread has drawn it, and both draw
    # it once (8 seen under load): still per second, never per frame (90 frames here).
    assert countdown_renders() - renders <= 8
    assert render_main.cache_info().misses == card_misses
    assert len([t for t in drawn if ":" in t]) <= 8 and len(drawn) <= 16


def test_countdown_reaches_zero_and_stays() -> None:
    assert seconds_left(100.0, 40.2) == 60
    assert countdown_text(seconds_left(100.0, 40.2)) == "01:00"
    assert seconds_left(100.0, 99.5) == 1
    assert seconds_left(100.0, 100.0) == 0 and seconds_left(100.0, 500.0) == 0


def test_cards_animate_in_and_out_without_rerendering() -> None:
    w, h = 640, 360
    director, stack, clock = _director(w, h)
    director.apply(director.prepare(GraphicsScene(cards=(CardOnAir("main", SOUP),))))
    x, y, cw, ch = director.on_air()["main"]
    region = (slice(y, y + ch), slice(x, x + cw))
    blank = _frame(stack, w, h, clock.t - 1)  # before it started: nothing
    full = np.abs(_frame(stack, w, h, clock.t + 10)[region].astype(int) - blank[region]).mean()

    def shown(now: float) -> float:
        """0..1: how far the card region is from the empty picture, relative to fully shown."""
        return float(np.abs(_frame(stack, w, h, now)[region].astype(int) - blank[region]).mean() / full)

    misses = render_main.cache_info().misses
    steps = [shown(clock.t + i / 30) for i in range(12)]
    assert steps[0] < 0.05 and steps[-1] > 0.99
    assert sum(0.1 < s < 0.9 for s in steps) >= 3, steps  # in-between frames: it fades/slides in
    assert all(b >= a - 0.02 for a, b in zip(steps, steps[1:], strict=False)), steps

    start = clock.t = clock.t + 5
    director.apply(director.prepare(GraphicsScene()))  # hide
    out = [shown(start + i / 30) for i in range(12)]
    assert out[0] > 0.95 and out[-1] < 0.01 and sum(0.1 < s < 0.9 for s in out) >= 3, out
    assert render_main.cache_info().misses == misses
    # Once gone, the layer leaves the stack.
    clock.t = start + 1
    director._prune()
    assert stack.layers == ()


def test_data_change_swaps_in_place_and_new_product_animates() -> None:
    director, stack, clock = _director(640, 360)
    director.apply(director.prepare(GraphicsScene(cards=(CardOnAir("main", SOUP),))))
    layer = stack.layers[0]
    clock.t += 2
    fewer = CardContent(**{**SOUP.__dict__, "stock": 4999})
    director.apply(director.prepare(GraphicsScene(cards=(CardOnAir("main", fewer),))))
    assert stack.layers == (layer,)  # same layer, new picture, no animation
    assert layer.motion.progress(clock.t) == 1.0  # type: ignore[attr-defined]
    other = CardContent("tea", "恩施玉露", 198.0)
    director.apply(director.prepare(GraphicsScene(cards=(CardOnAir("main", other),))))
    old, new = list(stack.layers)  # the old card leaves under the new one coming in
    assert old is layer and new.motion.progress(clock.t) == 0.0  # type: ignore[attr-defined]


def test_motion_hide_while_entering_reverses_smoothly() -> None:
    m = Motion(10.0, (100, 0), 0.3)
    assert m.frame(9.0)[2] == 0 and m.frame(10.3) == (0, 0, 256)
    mid = m.progress(10.1)
    m.hide(10.1)
    assert abs(m.progress(10.1) - mid) < 1e-9
    assert not m.done(10.1) and m.done(10.1 + 0.3 * mid + 1e-6)


def test_a_failing_layer_does_not_cost_the_frame() -> None:
    class Broken:
        def blend(self, canvas: np.ndarray, width: int, height: int, now: float) -> None:
            raise RuntimeError("boom")

    class Marks:
        def blend(self, canvas: np.ndarray, width: int, height: int, now: float) -> None:
            canvas[0, 0] = 7

    stack = OverlayStack()
    stack.set_layers((Broken(), Marks()))
    canvas = _yuv_canvas(64, 32, 16, 128, 128)
    stack.blend_into(canvas, 64, 32, 0.0)
    assert canvas[0, 0] == 7 and stack.errors == 1


# -- layout -----------------------------------------------------------------------------------


def _rects(w: int, h: int) -> dict[str, tuple[int, int, int, int]]:
    director, _, _ = _director(w, h)
    scene = GraphicsScene(
        cards=(
            CardOnAir("main", CardContent(**{**SOUP.__dict__, "countdown": True}), 2000.0),
            CardOnAir("tag1", CardContent("car", "东风风神 AX7 乘用车", 119800, was_price=135800, promo="立减1.6万")),
            CardOnAir("tag2", CardContent("tea", "恩施玉露 绿茶", 198.0)),
        ),
        lower_third=LowerThirdContent("beijing", "王主持", "北京直播间 · 北京 Beijing", "正在介绍：汪集鸡汤"),
        logo=LogoContent("为湖北拼单 · Buy for Hubei 0510"),
    )
    director.apply(director.prepare(scene))
    return director.on_air()


@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (640, 360), (1920, 1080)])
def test_layout_fits_the_canvas_without_overlaps(size: tuple[int, int]) -> None:
    w, h = size
    rects = _rects(w, h)
    assert set(rects) == {"main", "tag1", "tag2", "lower_third", "logo"}
    for key, (x, y, rw, rh) in rects.items():
        assert x >= 0 and y >= 0 and x + rw <= w and y + rh <= h, (key, rects[key])
        assert x % 2 == 0 and y % 2 == 0
    keys = list(rects)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            ax, ay, aw, ah = rects[a]
            bx, by, bw, bh = rects[b]
            overlap = ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
            assert not overlap, (a, rects[a], b, rects[b])
    # Scaled by the canvas: the main card is about 60% of a 720-pixel short side.
    assert abs(rects["main"][2] - 440 * Layout(w, h).scale) <= 2


@pytest.mark.parametrize("size", [(720, 1280), (1080, 1920)])
def test_portrait_keeps_graphics_out_of_the_platform_bands(size: tuple[int, int]) -> None:
    """9:16: the phone app draws its header on top and comments/buy button at the bottom: our graphics
    keep clear of both; the lower third is on top, the main card in the bottom third right above the band."""
    from mixer.graphics.layout import SAFE_BOTTOM, SAFE_TOP

    w, h = size
    rects = _rects(w, h)
    for key, (_, y, _, rh) in rects.items():
        assert y >= h * SAFE_TOP - 2 and y + rh <= h * (1 - SAFE_BOTTOM) + 2, (key, rects[key])
    _, main_y, _, main_h = rects["main"]
    assert main_y + main_h > h * 2 / 3 and h * (1 - SAFE_BOTTOM) - (main_y + main_h) <= 4  # bottom third, on the band
    _, lt_y, _, lt_h = rects["lower_third"]
    assert lt_y + lt_h < h / 3  # on top
