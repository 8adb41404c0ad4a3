"""Products as they are live (catalogue + the crew's overrides) and the rules for cards on air.

Everything here is a pure function of the show's config and its :class:`ShowState`:
the state changes run inside the store's atomic update (so they see the latest
state, whichever node wrote it), and the audit events are derived by comparing the
state before and after, so every card shown or hidden is recorded with the price
that was on air.

One module per concept: ``liveproduct`` (a product with its live overrides),
``pricerules`` (checks on what the crew asks for), ``cardchanges`` (state changes),
``audit`` (events), ``drawing`` (what the media plane draws) and ``views`` (API views).
Callers use the names below (``catalogue.put_card``...).
"""

from orchestrator.bodies import LIVE_FIELDS
from orchestrator.catalogue.audit import events_between
from orchestrator.catalogue.cardchanges import (
    CardAsk,
    drop_card,
    drop_lower_third,
    drop_preview_card,
    patch_product,
    put_card,
    put_lower_third,
    put_preview_card,
    take_preview_cards,
)
from orchestrator.catalogue.drawing import card_content, graphics_scene, lower_third_content
from orchestrator.catalogue.liveproduct import (
    LiveProduct,
    cents,
    find_product,
    live_product,
    on_air_slots,
    same_price,
    was_price_shown,
)
from orchestrator.catalogue.pricerules import MAX_PRICE_FACTOR, check_patch, check_price, check_slot
from orchestrator.catalogue.views import PRODUCT_VIEW_KEYS, card_view, graphics_view, product_view, products_view
from orchestrator.fields import MAX_COUNT, MAX_PRICE  # the API's limits

__all__ = [
    "LIVE_FIELDS",
    "MAX_COUNT",
    "MAX_PRICE",
    "MAX_PRICE_FACTOR",
    "CardAsk",
    "PRODUCT_VIEW_KEYS",
    "LiveProduct",
    "card_content",
    "card_view",
    "cents",
    "check_patch",
    "check_price",
    "check_slot",
    "drop_card",
    "drop_lower_third",
    "drop_preview_card",
    "events_between",
    "find_product",
    "graphics_scene",
    "graphics_view",
    "live_product",
    "lower_third_content",
    "on_air_slots",
    "patch_product",
    "product_view",
    "products_view",
    "put_card",
    "put_lower_third",
    "put_preview_card",
    "same_price",
    "take_preview_cards",
    "was_price_shown",
]
