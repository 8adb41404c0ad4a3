"""The operator's JSON API. Thin: parse, authorise, call the show, answer."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from orchestrator.appkeys import CONFIG, SHOWS, STORE
from orchestrator.auth import operator
from orchestrator.errors import BadRequest, NotFound
from orchestrator.links import join_links
from orchestrator.showrunner import ShowRunner, studio_or_none


def _operator(request: web.Request) -> str:
    """The acting operator's name for the audit trail; the role check is in orchestrator.auth."""
    return operator(request).name


def _runner(request: web.Request) -> ShowRunner:
    runner = request.app[SHOWS].get(request.match_info["show"])
    if runner is None:
        raise NotFound(f"no show {request.match_info['show']!r}")
    return runner


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


async def list_shows(request: web.Request) -> web.Response:
    _operator(request)
    shows = [{"id": r.show.id, "title": r.show.title} for r in request.app[SHOWS].values()]
    return web.json_response({"shows": shows})


async def get_show(request: web.Request) -> web.Response:
    _operator(request)
    return web.json_response(await _runner(request).describe())


async def cut(request: web.Request) -> web.Response:
    actor = _operator(request)
    runner = _runner(request)
    body = await _json_body(request)
    if "studio" not in body:
        raise BadRequest("body needs 'studio' (a studio id, or null for the slate)")
    state = await runner.cut(studio_or_none(body["studio"]), actor)
    return web.json_response(state.to_json())


async def preview(request: web.Request) -> web.Response:
    actor = _operator(request)
    runner = _runner(request)
    body = await _json_body(request)
    if "studio" not in body:
        raise BadRequest("body needs 'studio' (a studio id, or null)")
    state = await runner.set_preview(studio_or_none(body["studio"]), actor)
    return web.json_response(state.to_json())


async def events(request: web.Request) -> web.Response:
    _operator(request)
    runner = _runner(request)
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise BadRequest("limit must be an integer") from None
    if not 1 <= limit <= 10_000:
        raise BadRequest("limit must be 1-10000")
    found = await request.app[STORE].events(runner.show.id, limit)
    return web.json_response({"events": [e.to_json() for e in found]})


async def links(request: web.Request) -> web.Response:
    _operator(request)
    runner = _runner(request)
    return web.json_response({"links": show_links(request, runner)})


def show_links(request: web.Request, runner: ShowRunner) -> list[dict[str, str]]:
    """The show's current join links, as seen from the address the operator used."""
    base = f"{request.scheme}://{request.host}"
    gens = {runner.show.id: dict(runner.state.link_gens)}
    return [link for link in join_links(request.app[CONFIG], base, gens) if link["show"] == runner.show.id]
