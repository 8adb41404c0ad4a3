"""The audit trail of graphics: events derived by comparing the state before and after a change,
so every card shown or hidden is recorded with the price that was on air.
"""

from __future__ import annotations

from mixer.graphics.director import SLOTS
from orchestrator.bodies import LIVE_FIELDS
from orchestrator.catalogue.liveproduct import find_product, same_price
from orchestrator.config import Show
from orchestrator.store import Event, ShowState


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
