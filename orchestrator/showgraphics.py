"""Catalogue and graphics commands: products, rundown, cards, lower third, logo and cues.

The rules (validation, state changes, audit lines, views) are in orchestrator/catalogue/;
imported products and the rundown are stored as documents beside the state.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator import catalogue, productimport
from orchestrator.bodies import ProductPatch
from orchestrator.commandpath import CommandPath
from orchestrator.config import Product, Show
from orchestrator.errors import NotFound
from orchestrator.store import Cue, Event, ShowState, StateStore, StoreUnavailable
from rooms.whipsession import WhipOptions

log = logging.getLogger(__name__)


class ShowGraphics(CommandPath):
    """The show's catalogue (config + imported), its rundown, and what graphics are on air."""

    def __init__(self, show: Show, store: StateStore, data_dir: Path, whip: WhipOptions | None = None) -> None:
        super().__init__(show, store, data_dir, whip)
        self.rundown: dict[str, list[str]] = {}

    async def _load_catalogue(self) -> None:
        """Imported products and the rundown live beside the state in the store."""
        try:
            imported = await self.store.get_doc(self.show.id, "catalogue")
            self.rundown = await self.store.get_doc(self.show.id, "rundown") or {}
        except StoreUnavailable as exc:
            log.error("show %s: cannot load imported catalogue (%s): config catalogue only", self.show.id, exc)
            return
        if imported:
            rows = [productimport.product_from_row(r, f"stored row {i}") for i, r in enumerate(imported)]
            self.show = dataclasses.replace(self.show, products=productimport.merge(self.config_show.products, rows))

    async def _save_docs(self) -> None:
        """Imported products and the rundown, written again after the store lost them."""
        extra = [productimport.product_to_row(p) for p in self.show.products if p not in self.config_show.products]
        try:
            if extra:
                await self.store.put_doc(self.show.id, "catalogue", extra)
            if self.rundown:
                await self.store.put_doc(self.show.id, "rundown", self.rundown)
        except StoreUnavailable as exc:
            log.error("show %s: catalogue/rundown not restored to the store: %s", self.show.id, exc)

    def products(self) -> list[dict[str, Any]]:
        return catalogue.products_view(self.show, self.state)

    async def import_products(self, products: list[Product], actor: str) -> int:
        merged = productimport.merge(self.show.products, products)
        extra = [p for p in merged if p not in self.config_show.products]
        await self.store.put_doc(self.show.id, "catalogue", [productimport.product_to_row(p) for p in extra])
        self.show = dataclasses.replace(self.show, products=merged)
        await self.audit("catalogue.imported", actor, {"products": len(products), "total": len(merged)})
        self.changes.publish(self.state)
        return len(merged)

    async def set_rundown(self, studios: dict[str, list[str]], actor: str) -> dict[str, list[str]]:
        rundown = productimport.check_rundown(
            studios, {s.id for s in self.show.studios}, {p.id for p in self.show.products}
        )
        await self.store.put_doc(self.show.id, "rundown", rundown)
        self.rundown = rundown
        await self.audit("rundown.set", actor, {"studios": sorted(rundown)})
        self.changes.publish(self.state)
        return rundown

    async def _change_graphics(self, change: Callable[[ShowState], ShowState], actor: str) -> ShowState:
        """Store ``change``, apply it, record what went on or off air, and wait until it is drawn."""

        def events(old: ShowState, new: ShowState) -> list[Event]:
            return catalogue.events_between(self.show, old, new, actor, time.time())

        state = await self._command(change, events)
        await self.graphics.settle()
        return state

    async def show_card(
        self,
        slot: str,
        product_id: str,
        actor: str,
        *,
        countdown_s: int | None = None,
        confirm_price: bool = False,
        preview: bool = False,
    ) -> dict[str, Any]:
        """On air now, or (``preview``) with the next take."""
        catalogue.check_slot(slot)
        catalogue.find_product(self.show, product_id)
        ask = catalogue.CardAsk(slot, product_id, countdown_s, confirm_price, actor)

        def on_preview(s: ShowState) -> ShowState:
            return catalogue.put_preview_card(self.show, s, ask)

        if preview:
            event = Event("preview.card", self.show.id, actor, {"slot": slot, "product": product_id})
            state = await self._command(on_preview, lambda o, n: [event])
            pending = catalogue.graphics_view(self.show, state, time.time())["preview_cards"]
            return next(c for c in pending if c["slot"] == slot)

        def change(s: ShowState) -> ShowState:
            return catalogue.put_card(self.show, s, ask, time.time())

        state = await self._change_graphics(change, actor)
        return catalogue.card_view(self.show, state, slot, time.time())

    async def hide_card(self, slot: str, actor: str, preview: bool = False) -> ShowState:
        catalogue.check_slot(slot)
        if preview:
            event = Event("preview.card_removed", self.show.id, actor, {"slot": slot})
            return await self._command(lambda s: catalogue.drop_preview_card(s, slot), lambda o, n: [event])
        return await self._change_graphics(lambda s: catalogue.drop_card(s, slot), actor)

    async def update_product(self, product_id: str, patch: ProductPatch, actor: str) -> dict[str, Any]:
        product = catalogue.find_product(self.show, product_id)
        changes = catalogue.check_patch(product, patch)
        confirm = patch.confirm_price

        def change(s: ShowState) -> ShowState:
            return catalogue.patch_product(self.show, s, product_id, changes, confirm_price=confirm)

        state = await self._change_graphics(change, actor)
        return catalogue.live_product(product, state).to_json(catalogue.on_air_slots(state, product_id))

    async def show_lower_third(self, studio_id: str, text: str, actor: str) -> ShowState:
        self._check_studio(studio_id)
        return await self._change_graphics(lambda s: catalogue.put_lower_third(self.show, s, studio_id, text), actor)

    async def hide_lower_third(self, actor: str) -> ShowState:
        return await self._change_graphics(catalogue.drop_lower_third, actor)

    async def set_logo(self, on: bool, actor: str) -> ShowState:
        return await self._change_graphics(lambda s: dataclasses.replace(s, logo=on), actor)

    async def set_cue(self, studio_id: str, product_id: str | None, message: str, actor: str) -> ShowState:
        """What the studio's host should present now: a product and/or a note from the crew."""
        self._check_studio(studio_id)
        if product_id is not None and not any(p.id == product_id for p in self.show.products):
            raise NotFound(f"show {self.show.id!r} has no product {product_id!r}")
        cue = Cue(product=product_id, message=message, at=time.time())

        def change(s: ShowState) -> ShowState:
            return dataclasses.replace(s, cues={**s.cues, studio_id: cue})

        def events(old: ShowState, new: ShowState) -> list[Event]:
            # The price the host was shown (the live one), in the audit trail too.
            shown = catalogue.product_view(self.show, new, product_id) if product_id else None
            price = {"price": shown["price"]} if shown else {}
            return [Event("cue.set", self.show.id, actor, {"studio": studio_id, **cue, **price})]

        return await self._command(change, events)
