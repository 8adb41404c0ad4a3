"""Product cards, live product edits, lower third and logo: the crew's graphics API.

Thin like the rest of the API: parse, authorise, call the show; the rules live in
:mod:`orchestrator.catalogue` and errors are domain errors turned into HTTP at the edge.
"""

from __future__ import annotations

import math
import time

from aiohttp import web

from orchestrator import catalogue
from orchestrator.answers import CardAnswer, Graphics, ProductAnswer, ProductList
from orchestrator.bodies import CardBody, CardBusQuery, LowerThirdBody, OnOffBody, ProductPatch, ProductsQuery
from orchestrator.showrunner import ShowRunner
from orchestrator.store import ShowState
from orchestrator.views.answer import shape
from orchestrator.views.common import answer, body, operator_name, query, show_runner


def _graphics(runner: ShowRunner, state: ShowState) -> web.Response:
    """The graphics on air after a change (``Graphics``), at the state's version."""
    view = {"version": state.version, **catalogue.graphics_view(runner.show, state, time.time())}
    return answer(shape(Graphics, view))


async def list_products(request: web.Request) -> web.Response:
    """The catalogue with live values; ?q= searches id, names and enterprise."""
    operator_name(request)
    products = show_runner(request).products()
    wanted = query(request, ProductsQuery).q.strip().lower()
    if wanted:
        fields = ("id", "name", "name_en", "enterprise")
        products = [p for p in products if any(wanted in str(p.get(f, "")).lower() for f in fields)]
    return answer(shape(ProductList, {"products": products}))


async def show_card(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    asked = await body(request, CardBody)
    card = await runner.show_card(
        asked.slot,
        asked.product,
        actor,
        countdown_s=None if asked.countdown_s is None else math.ceil(asked.countdown_s),
        confirm_price=asked.confirm_price,
        preview=asked.preview,
    )
    return answer(shape(CardAnswer, {"card": card}))


async def hide_card(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    bus = query(request, CardBusQuery).bus
    state = await runner.hide_card(catalogue.check_slot(request.match_info["slot"]), actor, preview=bus == "preview")
    return _graphics(runner, state)


async def update_product(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    patch = await body(request, ProductPatch)
    product = await runner.update_product(request.match_info["product"], patch, actor)
    return answer(shape(ProductAnswer, {"product": product}))


async def show_lower_third(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    asked = await body(request, LowerThirdBody)
    state = await runner.show_lower_third(asked.studio, asked.text or "", actor)
    return _graphics(runner, state)


async def hide_lower_third(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    state = await runner.hide_lower_third(actor)
    return _graphics(runner, state)


async def set_logo(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    state = await runner.set_logo((await body(request, OnOffBody)).on, actor)
    return _graphics(runner, state)
