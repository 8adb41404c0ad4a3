"""What the media plane draws from the state: cards, lower third and logo (mixer/graphics/)."""

from __future__ import annotations

from typing import Any

from mixer.graphics.card import CardContent
from mixer.graphics.director import SLOTS, CardOnAir, GraphicsScene
from mixer.graphics.logo import LogoContent
from mixer.graphics.lowerthird import LowerThirdContent
from orchestrator.catalogue.liveproduct import find_product, live_product
from orchestrator.config import Show
from orchestrator.store import ShowState


def card_content(show: Show, state: ShowState, entry: dict[str, Any]) -> CardContent:
    """What a card on air draws (``entry``: a ``ShowState.cards`` value)."""
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
    """What the lower third draws; None when its studio is no longer in the config."""
    studio = show.studio(str(lower_third.get("studio")))
    if studio is None:
        return None  # the config changed under a saved state: show nothing rather than guess
    if studio.host:
        title, sub = studio.host, " · ".join(x for x in (studio.name, studio.place) if x)
    else:
        title, sub = studio.name, studio.place
    return LowerThirdContent(key=studio.id, title=title, subtitle=sub, text=lower_third.get("text") or "")


def graphics_scene(show: Show, state: ShowState) -> GraphicsScene:
    """Everything drawn over the program for ``state`` (mixer/graphics/director.py)."""
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
