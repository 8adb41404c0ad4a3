"""A product as it is live: the catalogue's entry with the crew's overrides (price, promo, stock, sold)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mixer.graphics.director import SLOTS
from orchestrator.bodies import LIVE_FIELDS
from orchestrator.config import Product, Show
from orchestrator.errors import NotFound
from orchestrator.store import ShowState


def cents(price: float) -> int:
    """A price in yuan as whole fen (0.01 yuan), rounded."""
    return int(round(price * 100))


def same_price(a: float, b: float) -> bool:
    """Equal to the fen."""
    return cents(a) == cents(b)


@dataclass(frozen=True)
class LiveProduct:
    """A catalogue product with the crew's live values (yuan, counts); ``overridden``: which are set."""

    product: Product
    price: float
    promo: str
    stock: int | None
    sold: int | None
    overridden: tuple[str, ...]

    @property
    def price_differs(self) -> bool:
        return not same_price(self.price, self.product.price)

    def to_json(self, on_air: list[str]) -> dict[str, Any]:
        p = self.product
        return {
            "id": p.id,
            "name": p.name,
            "name_en": p.name_en,
            "enterprise": p.enterprise,
            "price": self.price,
            "catalogue_price": p.price,
            "was_price": p.was_price,
            "promo": self.promo,
            "stock": self.stock,
            "sold": self.sold,
            "buy_url": p.buy_url,
            "image": p.image,
            "overridden": list(self.overridden),
            "on_air": on_air,
        }


def find_product(show: Show, product_id: str) -> Product:
    """The show's product ``product_id``; NotFound if it has none."""
    for p in show.products:
        if p.id == product_id:
            return p
    raise NotFound(f"show {show.id!r} has no product {product_id!r}")


def live_product(product: Product, state: ShowState) -> LiveProduct:
    """``product`` with the overrides ``state`` holds for it."""
    o = state.product_overrides.get(product.id, {})
    return LiveProduct(
        product=product,
        price=float(o.get("price", product.price)),
        promo=str(o.get("promo", product.promo)),
        stock=o.get("stock", product.stock),
        sold=o.get("sold"),
        overridden=tuple(k for k in LIVE_FIELDS if k in o),
    )


def on_air_slots(state: ShowState, product_id: str) -> list[str]:
    """The card slots showing ``product_id`` now."""
    return [slot for slot in SLOTS if (state.cards.get(slot) or {}).get("product") == product_id]


def was_price_shown(live: LiveProduct) -> float | None:
    """The struck-through price, only when it is above the live price (else it would mislead)."""
    was = live.product.was_price
    return was if was is not None and cents(was) > cents(live.price) else None
