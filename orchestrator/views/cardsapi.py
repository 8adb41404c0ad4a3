"""Product cards, live product edits, lower third and logo: the crew's graphics API.

Thin like the rest of the API: parse, authorise, call the show; the rules live in
:mod:`orchestrator.catalogue` and errors are domain errors turned into HTTP at the edge.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from orchestrator import catalogue
from orchestrator.errors import BadRequest
from orchestrator.showrunner import ShowRunner
from orchestrator.store import ShowState
from orchestrator.views.common import json_body, operator_name, show_runner


def _graphics(runner: ShowRunner, state: ShowState) -> dict[str, Any]:
    return {"version": state.version, **catalogue.graphics_view(runner.show, state, time.time())}


async def list_products(request: web.Request) -> web.Response:
    """The catalogue with live values; ?q= searches id, names and enterprise."""
    operator_name(request)
    products = show_runner(request).products()
    query = request.query.get("q", "").strip().lower()
    if query:
        fields = ("id", "name", "name_en", "enterprise")
        products = [p for p in products if any(query in str(p.get(f, "")).lower() for f in fields)]
    return web.json_response({"products": products})


async def show_card(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    body = await json_body(request)
    unknown = sorted(set(body) - {"product", "slot", "countdown_s", "confirm_price", "preview"})
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}")
    product = body.get("product")
    if not isinstance(product, str) or not product:
        raise BadRequest("body needs 'product' (a product id)")
    slot = body.get("slot", "main")
    if not isinstance(slot, str) or slot not in catalogue.SLOTS:
        raise BadRequest(f"'slot' must be one of {', '.join(catalogue.SLOTS)}")
    card = await runner.show_card(
        slot,
        product,
        actor,
        countdown_s=catalogue.check_countdown(body.get("countdown_s")),
        confirm_price=catalogue.check_confirm(body.get("confirm_price", False)),
        preview=_preview(body.get("preview", False)),
    )
    return web.json_response({"card": card})


def _preview(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadRequest("'preview' must be true (on air with the next take) or false (now)")
    return value


async def hide_card(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    bus = request.query.get("bus", "program")
    if bus not in ("program", "preview"):
        raise BadRequest("'bus' must be program or preview")
    state = await runner.hide_card(catalogue.check_slot(request.match_info["slot"]), actor, preview=bus == "preview")
    return web.json_response(_graphics(runner, state))


async def update_product(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    body = await json_body(request)
    product = await runner.update_product(request.match_info["product"], body, actor)
    return web.json_response({"product": product})


async def show_lower_third(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    body = await json_body(request)
    studio = body.get("studio")
    if not isinstance(studio, str) or not studio:
        raise BadRequest("body needs 'studio' (a studio id)")
    text = catalogue.check_lower_third_text(body.get("text"))
    state = await runner.show_lower_third(studio, text, actor)
    return web.json_response(_graphics(runner, state))


async def hide_lower_third(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    state = await runner.hide_lower_third(actor)
    return web.json_response(_graphics(runner, state))


async def set_logo(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    body = await json_body(request)
    on = body.get("on")
    if not isinstance(on, bool):
        raise BadRequest("body needs 'on': true or false")
    state = await runner.set_logo(on, actor)
    return web.json_response(_graphics(runner, state))
