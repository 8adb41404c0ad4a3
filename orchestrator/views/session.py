"""Operator sign-in for the control page: a signed session cookie, revoked on sign-out."""

from __future__ import annotations

from aiohttp import web

from orchestrator.answers import Operator, SignedOut
from orchestrator.appkeys import SESSIONS, STORE
from orchestrator.auth import check_password, check_token, operator
from orchestrator.bodies import EmptyBody, LoginBody
from orchestrator.errors import BadRequest, Unauthorized, Unavailable
from orchestrator.operators import Actor
from orchestrator.sessions import COOKIE, CSRF_HEADER, SESSION_HOURS
from orchestrator.store import StoreUnavailable
from orchestrator.views.common import answer, body


def _who(request: web.Request, actor: Actor, sid: str) -> web.Response:
    """Who is signed in; with a session, its CSRF token in the ``X-CSRF-Token`` header."""
    me = Operator(name=actor.name, role=actor.role.value)
    if actor.shows is not None:
        me.shows = sorted(actor.shows)  # set only when scoped: absent means every show
    headers = {CSRF_HEADER: request.app[SESSIONS].csrf_token(sid), "Cache-Control": "no-store"} if sid else {}
    return answer(me, headers=headers)


async def login(request: web.Request) -> web.Response:
    asked = await body(request, LoginBody)
    if asked.token:
        actor = check_token(request, asked.token)
    elif asked.name is not None and asked.password is not None:
        actor = await check_password(request, asked.name, asked.password)
    else:
        raise BadRequest("send {'token': ...} or {'name': ..., 'password': ...}")
    if actor is None:
        raise Unauthorized("wrong name, password or token")
    value, session = request.app[SESSIONS].issue(actor)
    response = _who(request, actor, session.sid)
    response.set_cookie(
        COOKIE,
        value,
        max_age=int(SESSION_HOURS * 3600),
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    """Ends the session on every node (the cookie stops working), then drops it from the browser."""
    await body(request, EmptyBody)
    sessions = request.app[SESSIONS]
    session = sessions.read(request.cookies.get(COOKIE, ""))
    if session is not None:
        try:
            await sessions.revoke(session, request.app[STORE])
        except StoreUnavailable:
            raise Unavailable(
                "state store unavailable: signed out on this server only; sign out again when it is back"
            ) from None
    response = answer(SignedOut(signed_out=True))
    response.del_cookie(COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    actor = operator(request)
    return _who(request, actor, actor.session)
