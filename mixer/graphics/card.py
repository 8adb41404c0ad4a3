"""Product cards rendered with Pillow: the main card and the small tags.

Rendering is a pure function of the card's content and scale, so its result is cached
by content: a card is drawn once when it goes on air or its data changes, never per
frame. The flash-sale countdown is the one part that changes every second; it is not
drawn here but in its own small patch (:mod:`mixer.graphics.countdown`) over the spot
this module leaves for it.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from PIL import Image, ImageDraw

from mixer.graphics.countdown import CountdownStyle
from mixer.graphics.palette import DARK_RED, GREY, INK, LIGHT_GREY, PANEL, RED, WHITE
from mixer.graphics.qr import qr_image
from mixer.graphics.rendered import Box, CountdownSpot, Rendered
from mixer.graphics.text import draw_fitted, ellipsize, fit_font, font, format_price, text_width

log = logging.getLogger(__name__)

MAIN_WIDTH = 440  # at scale 1 (a 720-pixel short side)
TAG_WIDTH = 300


@dataclass(frozen=True)
class CardContent:
    """Everything a card shows, already resolved (live overrides applied). Hashable: a cache key."""

    product: str  # product id: a card for the same product is updated in place, not re-animated
    name: str
    price: float
    enterprise: str = ""
    name_en: str = ""
    was_price: float | None = None
    promo: str = ""
    stock: int | None = None
    sold: int | None = None
    buy_url: str = ""
    image: str = ""  # path on disk; drawn scaled when readable
    countdown: bool = False  # leave a spot for the flash-sale countdown


def stock_line(stock: int | None, sold: int | None) -> str:
    if stock == 0:
        return "已售罄 Sold out"
    parts = []
    if sold is not None:
        parts.append(f"已售 {sold:,} 件")
    if stock is not None:
        parts.append(f"仅剩 {stock:,} 件")
    return " · ".join(parts)


def _even(n: float) -> int:
    return int(round(n)) + int(round(n)) % 2


def _load_image(path: str, size: int) -> Image.Image | None:
    """The product photo fitted into a ``size`` square; a missing or broken file just leaves it out."""
    try:
        with Image.open(path) as src:
            img = src.convert("RGBA")
    except (OSError, ValueError) as exc:
        log.warning("product image %s not drawn: %s", path, exc)
        return None
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    return img


def _price_row(
    draw: ImageDraw.ImageDraw,
    x: int,
    baseline: int,
    content: CardContent,
    size: int,
    max_width: int,
    was_ratio: float = 0.4,
) -> dict[str, Box]:
    """'¥39.9' big and red, then the was-price small, grey and struck through, on one baseline."""
    price = format_price(content.price)
    was = f"¥{format_price(content.was_price)}" if content.was_price is not None else ""
    # Shrink the whole row together until it fits (a car costs ¥119,800, soup ¥39.9).
    s = size
    while s > size // 2:
        big, yen, small = font(s), font(s // 2), font(max(8, round(s * was_ratio)), bold=False)
        need = text_width("¥", yen) + text_width(price, big) + (s // 4 + text_width(was, small) if was else 0)
        if need <= max_width:
            break
        s -= 2
    boxes: dict[str, Box] = {}
    draw.text((x, baseline), "¥", font=yen, fill=RED, anchor="ls")
    px = x + text_width("¥", yen)
    draw.text((px, baseline), price, font=big, fill=RED, anchor="ls")
    boxes["price"] = tuple(int(v) for v in draw.textbbox((px, baseline), price, font=big, anchor="ls"))  # type: ignore[assignment]
    if was:
        wx = px + text_width(price, big) + s // 4
        draw.text((wx, baseline), was, font=small, fill=LIGHT_GREY, anchor="ls")
        x0, y0, x1, y1 = draw.textbbox((wx, baseline), was, font=small, anchor="ls")
        # The strike: through the middle of the digits, thick enough to survive encoding.
        mid = (y0 + y1) // 2
        draw.line((x0 - 1, mid, x1 + 1, mid), fill=GREY, width=max(1, s // 20))
        boxes["was_price"] = (int(x0), int(y0), int(x1), int(y1))
    return boxes


def _countdown_style(scale: float, bg: tuple[int, int, int, int]) -> CountdownStyle:
    return CountdownStyle(label="限时", size=max(8, round(18 * scale)), background=bg, pill=DARK_RED, ink=WHITE)


# Small caches: stock changes while on air make new pictures, and old ones are not needed again.
@functools.lru_cache(maxsize=16)
def render_main(content: CardContent, scale: float) -> Rendered:
    """The large card: header (promo, countdown), photo, name, enterprise, price, stock, QR."""

    def u(n: float) -> int:
        return max(1, int(round(n * scale)))

    w = _even(MAIN_WIDTH * scale)
    pad = u(16)
    radius = u(14)
    qr_size = u(112) if content.buy_url else 0
    photo_size = u(104) if content.image else 0
    photo = _load_image(content.image, photo_size) if content.image else None
    header_h = _even(u(40)) if (content.promo or content.countdown) else 0

    # Measure the text column to know the height before drawing.
    name_size, line_size = u(28), u(16)
    price_size = u(52)
    stock = stock_line(content.stock, content.sold)
    text_h = u(36) + (u(22) if content.name_en else 0) + (u(22) if content.enterprise else 0)
    top_h = max(text_h, photo_size if photo else 0)
    body_h = top_h + u(8) + price_size + (u(30) if stock else u(6))
    qr_block = qr_size + u(22) if qr_size else 0
    h = _even(header_h + pad + max(body_h, qr_block) + pad)

    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=radius, fill=PANEL)
    boxes: dict[str, Box] = {"card": (0, 0, w, h)}
    spot: CountdownSpot | None = None
    if header_h:
        draw.rounded_rectangle((0, 0, w - 1, header_h + radius), radius=radius, fill=RED)
        draw.rectangle((0, header_h, w - 1, header_h + radius), fill=PANEL)
        cd_w = _even(u(130)) if content.countdown else 0
        if content.promo:
            boxes["promo"] = draw_fitted(
                draw, (pad, header_h // 2), content.promo, u(22), w - 2 * pad - cd_w - pad, WHITE, anchor="lm"
            )
        if content.countdown:
            # Even position and size: the patch is blended at chroma resolution too.
            x = (w - pad - cd_w) & ~1
            spot = CountdownSpot(x, 0, cd_w, header_h, _countdown_style(scale, RED))
            boxes["countdown"] = (x, 0, x + cd_w, header_h)

    y = header_h + pad
    x = pad
    if photo is not None:
        img.paste(photo, (pad + (photo_size - photo.width) // 2, y + (photo_size - photo.height) // 2), photo)
        boxes["image"] = (pad, y, pad + photo_size, y + photo_size)
        x = pad + photo_size + u(12)
    col_w = w - x - pad - (qr_size + u(12) if qr_size else 0)
    boxes["name"] = draw_fitted(draw, (x, y), content.name, name_size, col_w, INK, min_size=u(18))
    ty = y + u(36)
    if content.name_en:
        boxes["name_en"] = draw_fitted(draw, (x, ty), content.name_en, line_size, col_w, GREY, bold=False)
        ty += u(22)
    if content.enterprise:
        boxes["enterprise"] = draw_fitted(draw, (x, ty), content.enterprise, line_size, col_w, GREY, bold=False)

    if qr_size:
        code = qr_image(content.buy_url, qr_size)
        qx = w - pad - qr_size + (qr_size - code.width) // 2
        img.paste(code, (qx, y))
        boxes["qr"] = (qx, y, qx + code.width, y + code.height)
        cap = font(u(13), bold=False)
        draw.text((w - pad - qr_size // 2, y + code.height + u(4)), "扫码下单", font=cap, fill=GREY, anchor="ma")

    py = y + top_h + u(8) + price_size * 4 // 5  # baseline: digits sit in the row's upper 4/5
    price_w = w - 2 * pad - (qr_size + u(12) if qr_size else 0)
    boxes.update(_price_row(draw, pad, py, content, price_size, price_w))
    if stock:
        colour = RED if content.stock == 0 else INK
        boxes["stock"] = draw_fitted(
            draw, (pad, py + u(8)), stock, u(17), price_w, colour, bold=content.stock == 0, anchor="la"
        )
    return Rendered(img, boxes, spot)


@functools.lru_cache(maxsize=16)
def render_tag(content: CardContent, scale: float) -> Rendered:
    """A small tag: name on top, price and promo below, countdown on the right."""

    def u(n: float) -> int:
        return max(1, int(round(n * scale)))

    w = _even(TAG_WIDTH * scale)
    pad = u(10)
    h = _even(u(72))
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=u(10), fill=PANEL)
    draw.rectangle((0, u(10), u(6), h - 1 - u(10)), fill=RED)  # accent bar
    draw.rounded_rectangle((0, 0, u(12), h - 1), radius=u(6), fill=RED)
    draw.rectangle((u(6), 0, u(12), h - 1), fill=PANEL)
    boxes: dict[str, Box] = {"card": (0, 0, w, h)}
    spot: CountdownSpot | None = None
    right = w - pad
    if content.countdown:
        cd_w, cd_h = _even(u(84)), _even(u(28))
        x, y = (w - pad - cd_w) & ~1, (h - cd_h) // 2 & ~1
        spot = CountdownSpot(x, y, cd_w, cd_h, CountdownStyle("", max(8, u(17)), PANEL, RED, WHITE))
        boxes["countdown"] = (x, y, x + cd_w, y + cd_h)
        right = x - u(8)
    x = u(12) + pad
    col_w = right - x
    boxes["name"] = draw_fitted(draw, (x, u(8)), content.name, u(20), col_w, INK, min_size=u(14))
    baseline = h - u(12)
    boxes.update(_price_row(draw, x, baseline, content, u(26), col_w - (u(76) if content.promo else 0), 0.6))
    if content.promo:
        f = fit_font(content.promo, u(14), u(70), u(10))
        promo = ellipsize(content.promo, f, u(70))
        pw = text_width(promo, f) + u(8)
        box = (right - pw, baseline - u(20), right, baseline)
        draw.rounded_rectangle(box, radius=u(4), outline=RED, width=max(1, u(1.5)))
        draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), promo, font=f, fill=RED, anchor="mm")
        boxes["promo"] = box
    return Rendered(img, boxes, spot)


def render_card(content: CardContent, scale: float, small: bool) -> Rendered:
    return render_tag(content, scale) if small else render_main(content, scale)
