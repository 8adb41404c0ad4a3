"""Products as they are live (catalogue + the crew's overrides) and the rules for cards on air.

Everything here is a pure function of the show's config and its :class:`ShowState`:
the state changes run inside the store's atomic update (so they see the latest
state, whichever node wrote it), and the audit events are derived by comparing the
state before and after, so every card shown or hidden is recorded with the price
that was on air.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from mixer.graphics.card import CardContent
from mixer.graphics.director import SLOTS, CardOnAir, GraphicsScene
from mixer.graphics.logo import LogoContent
from mixer.graphics.lowerthird import LowerThirdContent
from orchestrator.bodies import LIVE_FIELDS, ProductPatch
from orchestrator.config import Product, Show
from orchestrator.errors import BadRequest, Conflict, NotFound
from orchestrator.fields import MAX_COUNT, MAX_PRICE  # noqa: F401 (MAX_COUNT: the API's limits, re-exported)
from orchestrator.store import Event, ShowState

MAX_PRICE_FACTOR = 10  # a live price over 10x the catalogue (or was-) price is a typo too


def cents(price: float) -> int:
    return int(round(price * 100))


def same_price(a: float, b: float) -> bool:
    return cents(a) == cents(b)


@dataclass(frozen=True)
class LiveProduct:
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
    for p in show.products:
        if p.id == product_id:
            return p
    raise NotFound(f"show {show.id!r} has no product {product_id!r}")


def check_slot(slot: object) -> str:
    if not isinstance(slot, str) or slot not in SLOTS:
        raise NotFound(f"no card slot {slot!r}: slots are {', '.join(SLOTS)}")
    return slot


def live_product(product: Product, state: ShowState) -> LiveProduct:
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
    return [slot for slot in SLOTS if (state.cards.get(slot) or {}).get("product") == product_id]


# -- validation ------------------------------------------------------------------------------


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


def _price_conflict(live: LiveProduct) -> Conflict:
    p = live.product
    return Conflict(
        f"the live price of {p.id!r} is ¥{live.price:g} but the catalogue says ¥{p.price:g}: "
        'send "confirm_price": true to put that price on air'
    )


# -- state changes (run inside the store's atomic update) -----------------------------------


def _confirmed(show: Show, state: ShowState, product_id: str, confirm_price: bool) -> LiveProduct:
    """The product as it would go on air; Conflict if its live price differs from the
    catalogue's and the crew has not confirmed it (``confirm_price``)."""
    live = live_product(find_product(show, product_id), state)
    if live.price_differs and not confirm_price:
        raise _price_conflict(live)
    return live


def put_card(
    show: Show,
    state: ShowState,
    slot: str,
    product_id: str,
    *,
    countdown_s: int | None,
    confirm_price: bool,
    actor: str,
    now: float,
) -> ShowState:
    live = _confirmed(show, state, product_id, confirm_price)
    entry = {
        "product": product_id,
        "price": live.price,
        "was_price": _was_price(live),
        "shown_at": now,
        "countdown_until": now + countdown_s if countdown_s else None,
        "actor": actor,
    }
    return dataclasses.replace(state, cards={**state.cards, slot: entry})


def put_preview_card(
    show: Show,
    state: ShowState,
    slot: str,
    product_id: str,
    *,
    countdown_s: int | None,
    confirm_price: bool,
    actor: str,
) -> ShowState:
    """A card built on preview: it goes on air with the next take (:func:`take_preview_cards`)."""
    _confirmed(show, state, product_id, confirm_price)
    entry = {"product": product_id, "countdown_s": countdown_s, "actor": actor}
    return dataclasses.replace(state, preview_cards={**state.preview_cards, slot: entry})


def drop_preview_card(state: ShowState, slot: str) -> ShowState:
    if slot not in state.preview_cards:
        raise NotFound(f"no card on preview in slot {slot!r}")
    return dataclasses.replace(state, preview_cards={k: v for k, v in state.preview_cards.items() if k != slot})


def take_preview_cards(show: Show, state: ShowState, now: float) -> ShowState:
    """The take: cards built on preview go on air at their live price (confirmed when it changed)."""
    for slot, entry in state.preview_cards.items():
        if any(p.id == entry.get("product") for p in show.products):
            state = put_card(
                show,
                state,
                slot,
                str(entry["product"]),
                countdown_s=entry.get("countdown_s"),
                confirm_price=True,  # checked when it was built, and on every price change since
                actor=str(entry.get("actor") or "system"),
                now=now,
            )
    return dataclasses.replace(state, preview_cards={})


def drop_card(state: ShowState, slot: str) -> ShowState:
    if slot not in state.cards:
        raise NotFound(f"no card on air in slot {slot!r}")
    return dataclasses.replace(state, cards={k: v for k, v in state.cards.items() if k != slot})


def patch_product(
    show: Show, state: ShowState, product_id: str, changes: dict[str, Any], *, confirm_price: bool
) -> ShowState:
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
        raise _price_conflict(live)
    if showing:
        cards = dict(new.cards)
        for slot in showing:
            cards[slot] = {**cards[slot], "price": live.price, "was_price": _was_price(live)}
        new = dataclasses.replace(new, cards=cards)
    return new


def put_lower_third(show: Show, state: ShowState, studio_id: str, text: str) -> ShowState:
    if show.studio(studio_id) is None:
        raise NotFound(f"show {show.id!r} has no studio {studio_id!r}")
    return dataclasses.replace(state, lower_third={"studio": studio_id, "text": text or None})


def drop_lower_third(state: ShowState) -> ShowState:
    if state.lower_third is None:
        raise NotFound("no lower third on air")
    return dataclasses.replace(state, lower_third=None)


def _was_price(live: LiveProduct) -> float | None:
    """The struck-through price, only when it is above the live price (else it would mislead)."""
    was = live.product.was_price
    return was if was is not None and cents(was) > cents(live.price) else None


# -- the audit trail -------------------------------------------------------------------------


def events_between(show: Show, old: ShowState, new: ShowState, actor: str, now: float) -> list[Event]:
    """What changed on air from ``old`` to ``new``, as audit events."""
    events: list[Event] = []
    sid = show.id
    for slot in SLOTS:
        o, n = old.cards.get(slot), new.cards.get(slot)
        replaced = o is not None and (n is None or n.get("shown_at") != o.get("shown_at"))
        if o is not None and replaced:
            detail = {"slot": slot, "product": o["product"], "price": o["price"]}
            detail["on_air_s"] = round(now - float(o.get("shown_at") or now), 1)
            events.append(Event("card.hidden", sid, actor, detail))
        if n is not None and (o is None or replaced):
            detail = {"slot": slot, "product": n["product"], "price": n["price"], "was_price": n.get("was_price")}
            if n.get("countdown_until"):
                detail["countdown_s"] = round(float(n["countdown_until"]) - float(n["shown_at"]))
            if not same_price(n["price"], find_product(show, n["product"]).price):
                detail["catalogue_price"] = find_product(show, n["product"]).price
            events.append(Event("card.shown", sid, actor, detail))
        elif o is not None and n is not None and not same_price(o["price"], n["price"]):
            detail = {"slot": slot, "product": n["product"], "price": n["price"], "previous_price": o["price"]}
            events.append(Event("card.price_changed", sid, actor, detail))
    for pid in sorted(set(old.product_overrides) | set(new.product_overrides)):
        before, after = old.product_overrides.get(pid, {}), new.product_overrides.get(pid, {})
        if before != after:
            changed = {k: after.get(k) for k in LIVE_FIELDS if before.get(k) != after.get(k)}
            events.append(Event("product.updated", sid, actor, {"product": pid, "changes": changed}))
    if old.lower_third != new.lower_third:
        if new.lower_third is None:
            events.append(Event("lower_third.hidden", sid, actor, dict(old.lower_third or {})))
        else:
            events.append(Event("lower_third.shown", sid, actor, dict(new.lower_third)))
    if old.logo != new.logo:
        events.append(Event("logo.on" if new.logo else "logo.off", sid, actor, {}))
    return events


# -- what the media plane draws --------------------------------------------------------------


def card_content(show: Show, state: ShowState, entry: dict[str, Any]) -> CardContent:
    product = find_product(show, entry["product"])
    live = live_product(product, state)
    return CardContent(
        product=product.id,
        name=product.name,
        # The price recorded when it went on air (kept in step by patch_product): what the audit says.
        price=float(entry["price"]),
        enterprise=product.enterprise,
        name_en=product.name_en,
        was_price=entry.get("was_price"),
        promo=live.promo,
        stock=live.stock,
        sold=live.sold,
        buy_url=product.buy_url,
        image=product.image,
        countdown=entry.get("countdown_until") is not None,
    )


def lower_third_content(show: Show, lower_third: dict[str, Any]) -> LowerThirdContent | None:
    studio = show.studio(str(lower_third.get("studio")))
    if studio is None:
        return None  # the config changed under a saved state: show nothing rather than guess
    if studio.host:
        title, sub = studio.host, " · ".join(x for x in (studio.name, studio.place) if x)
    else:
        title, sub = studio.name, studio.place
    return LowerThirdContent(key=studio.id, title=title, subtitle=sub, text=lower_third.get("text") or "")


def graphics_scene(show: Show, state: ShowState) -> GraphicsScene:
    cards = []
    for slot in SLOTS:
        entry = state.cards.get(slot)
        if entry is None or not any(p.id == entry.get("product") for p in show.products):
            continue
        cards.append(CardOnAir(slot, card_content(show, state, entry), entry.get("countdown_until")))
    return GraphicsScene(
        cards=tuple(cards),
        lower_third=lower_third_content(show, state.lower_third) if state.lower_third else None,
        logo=LogoContent(show.logo_text or show.title, show.logo_image) if state.logo else None,
    )


# -- views -------------------------------------------------------------------------------------


def card_view(show: Show, state: ShowState, slot: str, now: float) -> dict[str, Any]:
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
    view["was_price"] = _was_price(live)
    return view


PRODUCT_VIEW_KEYS = ("id", "name", "name_en", "enterprise", "price", "was_price", "promo", "stock", "on_air")


def products_view(show: Show, state: ShowState) -> list[dict[str, Any]]:
    return [live_product(p, state).to_json(on_air_slots(state, p.id)) for p in show.products]
