"""Views of the catalogue and the graphics for the API, the control page and the hosts' cues."""

from __future__ import annotations

import math
from typing import Any

from mixer.graphics.director import SLOTS
from orchestrator.catalogue.liveproduct import find_product, live_product, on_air_slots, was_price_shown
from orchestrator.config import Show
from orchestrator.store import ShowState


def card_view(show: Show, state: ShowState, slot: str, now: float) -> dict[str, Any]:
    """The card on air in ``slot`` for the API (``countdown_left_s``: whole seconds, from ``now``)."""
    entry = state.cards[slot]
    product = find_product(show, entry["product"])
    until = entry.get("countdown_until")
    return {
        "slot": slot,
        "product": product.id,
        "name": product.name,
        "price": entry["price"],
        "was_price": entry.get("was_price"),
        "shown_at": entry.get("shown_at"),
        "countdown_until": until,
        "countdown_left_s": max(0, math.ceil(until - now)) if until else None,
        "actor": entry.get("actor"),
    }


def graphics_view(show: Show, state: ShowState, now: float) -> dict[str, Any]:
    """The ``cards``, ``lower_third`` and ``logo`` keys of a show's description."""
    known = {p.id for p in show.products}
    pending = [
        {"slot": s, "product": e["product"], "name": find_product(show, e["product"]).name,
         "price": live_product(find_product(show, e["product"]), state).price, "countdown_s": e.get("countdown_s")}
        for s, e in state.preview_cards.items() if e.get("product") in known
    ]  # fmt: skip
    return {
        "preview_cards": pending,
        "cards": [card_view(show, state, s, now) for s in SLOTS if (state.cards.get(s) or {}).get("product") in known],
        "lower_third": state.lower_third,
        "logo": state.logo,
    }


def product_view(show: Show, state: ShowState, product_id: str) -> dict[str, Any] | None:
    """One product as buyers see it now (catalogue + live overrides), for a host's cue.

    ``{"id", "name", "name_en", "enterprise", "price", "was_price", "promo", "stock", "on_air"}``;
    ``was_price`` only when above the live price (as on the card). None for an unknown product.
    """
    product = next((p for p in show.products if p.id == product_id), None)
    if product is None:
        return None
    live = live_product(product, state)
    view = {k: v for k, v in live.to_json(on_air_slots(state, product.id)).items() if k in PRODUCT_VIEW_KEYS}
    view["was_price"] = was_price_shown(live)
    return view


PRODUCT_VIEW_KEYS = ("id", "name", "name_en", "enterprise", "price", "was_price", "promo", "stock", "on_air")


def products_view(show: Show, state: ShowState) -> list[dict[str, Any]]:
    """Every product of the show with its live values and the slots showing it."""
    return [live_product(p, state).to_json(on_air_slots(state, p.id)) for p in show.products]
