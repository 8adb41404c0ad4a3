"""Operator sign-in for the control page: a signed session cookie."""

from __future__ import annotations

from aiohttp import web

from orchestrator.appkeys import OPERATORS
from orchestrator.errors import BadRequest, Unauthorized
from orchestrator.operators import COOKIE, SESSION_HOURS
from orchestrator.views.common import json_body


async def login(request: web.Request) -> web.Response:
    body = await json_body(request)
    operators = request.app[OPERATORS]
    token, name, password = body.get("token"), body.get("name"), body.get("password")
    if isinstance(token, str) and token:
        actor = operators.by_token(token)
    elif isinstance(name, str) and isinstance(password, str):
        actor = operators.by_password(name, password)
    else:
        raise BadRequest("send {'token': ...} or {'name': ..., 'password': ...}")
    if actor is None:
        raise Unauthorized("wrong name, password or token")
    response = web.json_response({"name": actor.name, "role": actor.role.value})
    response.set_cookie(
        COOKIE,
        operators.cookie_for(actor),
        max_age=int(SESSION_HOURS * 3600),
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    response = web.json_response({"signed_out": True})
    response.del_cookie(COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    actor = request.app[OPERATORS].identify(request)
    return web.json_response({"name": actor.name, "role": actor.role.value})
