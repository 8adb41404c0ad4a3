"""State changes for cards, product overrides, the lower third: pure functions run inside the
store's atomic update (so they see the latest state, whichever node wrote it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from orchestrator.catalogue.liveproduct import find_product, live_product, on_air_slots, was_price_shown
from orchestrator.catalogue.pricerules import confirmed, price_conflict
from orchestrator.config import Show
from orchestrator.errors import NotFound
from orchestrator.store import ShowState


@dataclass(frozen=True)
class CardAsk:
    """What the crew asks for: ``product`` (an id of the show) in ``slot``, a countdown of
    ``countdown_s`` seconds (None: none), whether a changed price was confirmed, who asked."""

    slot: str
    product: str
    countdown_s: int | None = None
    confirm_price: bool = False
    actor: str = "system"


def put_card(show: Show, state: ShowState, ask: CardAsk, now: float) -> ShowState:
    """The asked product on air in its slot at its live price (``now``: Unix seconds);
    Conflict if that price is unconfirmed."""
    live = confirmed(show, state, ask.product, ask.confirm_price)
    entry = {
        "product": ask.product,
        "price": live.price,
        "was_price": was_price_shown(live),
        "shown_at": now,
        "countdown_until": now + ask.countdown_s if ask.countdown_s else None,
        "actor": ask.actor,
    }
    return dataclasses.replace(state, cards={**state.cards, ask.slot: entry})


def put_preview_card(show: Show, state: ShowState, ask: CardAsk) -> ShowState:
    """A card built on preview: it goes on air with the next take (:func:`take_preview_cards`)."""
    confirmed(show, state, ask.product, ask.confirm_price)
    entry = {"product": ask.product, "countdown_s": ask.countdown_s, "actor": ask.actor}
    return dataclasses.replace(state, preview_cards={**state.preview_cards, ask.slot: entry})


def drop_preview_card(state: ShowState, slot: str) -> ShowState:
    """The card built on preview in ``slot`` removed; NotFound if there is none."""
    if slot not in state.preview_cards:
        raise NotFound(f"no card on preview in slot {slot!r}")
    return dataclasses.replace(state, preview_cards={k: v for k, v in state.preview_cards.items() if k != slot})


def take_preview_cards(show: Show, state: ShowState, now: float) -> ShowState:
    """The take: cards built on preview go on air at their live price (confirmed when it changed)."""
    for slot, entry in state.preview_cards.items():
        if any(p.id == entry.get("product") for p in show.products):
            ask = CardAsk(
                slot,
                str(entry["product"]),
                countdown_s=entry.get("countdown_s"),
                confirm_price=True,  # checked when it was built, and on every price change since
                actor=str(entry.get("actor") or "system"),
            )
            state = put_card(show, state, ask, now)
    return dataclasses.replace(state, preview_cards={})


def drop_card(state: ShowState, slot: str) -> ShowState:
    """The card on air in ``slot`` off air; NotFound if there is none."""
    if slot not in state.cards:
        raise NotFound(f"no card on air in slot {slot!r}")
    return dataclasses.replace(state, cards={k: v for k, v in state.cards.items() if k != slot})


def patch_product(
    show: Show, state: ShowState, product_id: str, changes: dict[str, Any], *, confirm_price: bool
) -> ShowState:
    """The live values ``changes`` set (None: back to the catalogue's); cards on air follow the price.

    Conflict when a card on air (or on preview) would change price without ``confirm_price``.
    """
    product = find_product(show, product_id)
    overrides = dict(state.product_overrides.get(product_id, {}))
    for key, value in changes.items():
        if value is None:
            overrides.pop(key, None)
        else:
            overrides[key] = value
    all_overrides = {k: v for k, v in state.product_overrides.items() if k != product_id}
    if overrides:
        all_overrides[product_id] = overrides
    new = dataclasses.replace(state, product_overrides=all_overrides)
    live = live_product(product, new)
    showing = on_air_slots(state, product_id)
    pending = [slot for slot, e in state.preview_cards.items() if e.get("product") == product_id]
    if (showing or pending) and live.price_differs and "price" in changes and not confirm_price:
        # Editing the price of a card on air (or about to be) changes what buyers see.
        raise price_conflict(live)
    if showing:
        cards = dict(new.cards)
        for slot in showing:
            cards[slot] = {**cards[slot], "price": live.price, "was_price": was_price_shown(live)}
        new = dataclasses.replace(new, cards=cards)
    return new


def put_lower_third(show: Show, state: ShowState, studio_id: str, text: str) -> ShowState:
    """The studio's lower third on air with ``text``; NotFound for an unknown studio."""
    if show.studio(studio_id) is None:
        raise NotFound(f"show {show.id!r} has no studio {studio_id!r}")
    return dataclasses.replace(state, lower_third={"studio": studio_id, "text": text or None})


def drop_lower_third(state: ShowState) -> ShowState:
    """The lower third off air; NotFound if none is on."""
    if state.lower_third is None:
        raise NotFound("no lower third on air")
    return dataclasses.replace(state, lower_third=None)
