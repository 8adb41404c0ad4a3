"""Checks on what the crew asks for: card slots, live prices (a typo guard), product patches.

Each raises the domain error the HTTP edge turns into a 4xx (orchestrator/errors.py).
"""

from __future__ import annotations

from typing import Any

from mixer.graphics.director import SLOTS
from mixer.graphics.text import format_price
from orchestrator.bodies import LIVE_FIELDS, ProductPatch
from orchestrator.catalogue.liveproduct import LiveProduct, find_product, live_product
from orchestrator.config import Product, Show
from orchestrator.errors import BadRequest, Conflict, NotFound
from orchestrator.fields import MAX_PRICE
from orchestrator.store import ShowState

MAX_PRICE_FACTOR = 10  # a live price over 10x the catalogue (or was-) price is a typo too


def check_slot(slot: object) -> str:
    """``slot`` if it is a card slot (mixer.graphics.director.SLOTS); NotFound otherwise."""
    if not isinstance(slot, str) or slot not in SLOTS:
        raise NotFound(f"no card slot {slot!r}: slots are {', '.join(SLOTS)}")
    return slot


def check_price(product: Product, price: float) -> float:
    """A live price (already a Price: finite, 0-MAX_PRICE) that is not absurd for this product, in fen.

    Raises BadRequest over MAX_PRICE_FACTOR times the catalogue (or was-) price, or below a fen.
    """
    reference = max(product.price, product.was_price or 0.0)
    limit = min(MAX_PRICE, MAX_PRICE_FACTOR * reference) if reference > 0 else MAX_PRICE
    if price > limit:  # before the fen check: price * 100 overflows for a huge price
        raise BadRequest(
            f"'price' {price:g} is more than {MAX_PRICE_FACTOR}x the catalogue price {product.price:g} "
            f"of {product.id!r} (limit {limit:g}): check for a typo"
        )
    if abs(price * 100 - round(price * 100)) > 1e-6:
        raise BadRequest(f"'price' {price} has more than 2 decimals (fen)")
    return price


def check_patch(product: Product, patch: ProductPatch) -> dict[str, Any]:
    """The changes a PATCH asks for; a null value means 'back to the catalogue value'."""
    changes = patch.changes()
    if changes.get("price") is not None:
        check_price(product, changes["price"])
    if not changes:
        raise BadRequest(f"nothing to change: send one or more of {', '.join(LIVE_FIELDS)}")
    return changes


def price_conflict(live: LiveProduct) -> Conflict:
    """409: ``live`` (the product with the crew's price, or the price just asked for) would go on
    air at a price other than the catalogue's. Nothing has changed yet; the message says so, since
    a trial read "the live price is ..." as a change already made."""
    p = live.product
    return Conflict(
        f"not changed: {p.id!r} would go on air at ¥{format_price(live.price)}, not at the catalogue's "
        f'¥{format_price(p.price)}: send "confirm_price": true to put that price on air'
    )


def confirmed(show: Show, state: ShowState, product_id: str, confirm_price: bool) -> LiveProduct:
    """The product as it would go on air; Conflict if its live price differs from the
    catalogue's and the crew has not confirmed it (``confirm_price``)."""
    live = live_product(find_product(show, product_id), state)
    if live.price_differs and not confirm_price:
        raise price_conflict(live)
    return live
