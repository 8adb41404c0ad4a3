"""Who may call what: the one access policy over the route table, and the checks behind it.

Deny by default: every route needs a signed-in operator with the permission its entry in
:data:`PERMISSIONS` names, and a route missing from that table needs a director. The only
exceptions are listed here by name: :data:`PUBLIC_API` (sign-in, sign-out, the API's own
description) and :data:`OUTSIDE_API` (routes outside ``/api`` that check their own
credential, a studio's join token or a viewer token, or are public by nature). The
middleware :func:`orchestrator.middleware.access` applies it to every request.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from orchestrator.appkeys import OPERATORS, SESSIONS, STORE, THROTTLE
from orchestrator.errors import Forbidden, TooManyRequests, Unauthorized
from orchestrator.operators import Actor, Permission, Role
from orchestrator.sessions import COOKIE, CSRF_HEADER

READ, GRAPHICS, SWITCH, LINKS = Permission.READ, Permission.GRAPHICS, Permission.SWITCH, Permission.LINKS
MONITOR = Permission.MONITOR
SHOW = "/api/shows/{show}"

# (method, route) -> what the caller must be allowed to do. HEAD follows GET.
PERMISSIONS: dict[tuple[str, str], Permission] = {
    ("GET", "/api/me"): READ,
    ("GET", "/api/shows"): READ,
    ("GET", "/api/cluster"): READ,
    ("POST", SHOW + "/move"): SWITCH,
    ("GET", SHOW): READ,
    ("GET", SHOW + "/ws"): READ,
    ("GET", SHOW + "/events"): READ,
    ("GET", SHOW + "/events.csv"): READ,
    ("GET", SHOW + "/multiview/{source}.jpg"): READ,
    ("GET", SHOW + "/multiview/{source}.mjpg"): READ,
    ("GET", SHOW + "/audio"): READ,
    ("GET", SHOW + "/products"): READ,
    ("GET", SHOW + "/rundown"): READ,
    ("GET", SHOW + "/outputs"): READ,
    ("GET", SHOW + "/outputs/rtmp"): READ,
    ("GET", SHOW + "/recording"): READ,
    # A join link puts its holder on air: only those who hand links out may see them.
    ("GET", SHOW + "/links"): LINKS,
    ("GET", SHOW + "/studios/{studio}/qr.svg"): LINKS,
    ("POST", SHOW + "/studios/{studio}/kick"): LINKS,
    ("POST", SHOW + "/studios/{studio}/reissue"): LINKS,
    ("POST", SHOW + "/cards"): GRAPHICS,
    ("DELETE", SHOW + "/cards/{slot}"): GRAPHICS,
    ("PATCH", SHOW + "/products/{product}"): GRAPHICS,
    ("POST", SHOW + "/products/import"): GRAPHICS,
    ("PUT", SHOW + "/rundown"): GRAPHICS,
    ("POST", SHOW + "/lower-third"): GRAPHICS,
    ("DELETE", SHOW + "/lower-third"): GRAPHICS,
    ("POST", SHOW + "/logo"): GRAPHICS,
    ("POST", SHOW + "/studios/{studio}/cue"): GRAPHICS,
    ("POST", SHOW + "/cut"): SWITCH,
    ("POST", SHOW + "/preview"): SWITCH,
    ("POST", SHOW + "/take"): SWITCH,
    ("POST", SHOW + "/layout"): SWITCH,
    ("POST", SHOW + "/panic"): SWITCH,
    ("POST", SHOW + "/unpanic"): SWITCH,
    ("POST", SHOW + "/ftb"): SWITCH,
    ("POST", SHOW + "/tbar"): SWITCH,
    ("GET", SHOW + "/alarms"): READ,
    # Whoever watches the show may say they have seen an alarm (it is audited by name).
    ("POST", SHOW + "/alarms/{alarm}/ack"): GRAPHICS,
    ("POST", SHOW + "/fallback-policy"): SWITCH,
    ("POST", SHOW + "/audio/{studio}"): SWITCH,
    ("POST", SHOW + "/outputs/rtmp"): SWITCH,
    ("DELETE", SHOW + "/outputs/rtmp/{name}"): SWITCH,
    ("POST", SHOW + "/recording"): SWITCH,
    # Dump throws away what the delayed outputs were about to air: directors only (SWITCH).
    ("POST", SHOW + "/dump"): SWITCH,
    ("POST", SHOW + "/delay"): SWITCH,
    ("POST", SHOW + "/programs"): SWITCH,  # a program's outputs start or end: directors only
    # Talkback: directors and producers (GRAPHICS is what both have and the links role lacks).
    ("GET", SHOW + "/talkback"): READ,
    ("POST", SHOW + "/talkback"): GRAPHICS,
    ("POST", SHOW + "/talkback/{talk}"): GRAPHICS,
    ("DELETE", SHOW + "/talkback/{talk}"): GRAPHICS,
    # Hearing the show and soloing a studio (orchestrator/crewmonitor.py): the crew at the desk.
    ("POST", SHOW + "/monitor"): MONITOR,
    ("DELETE", SHOW + "/monitor/{viewer}"): MONITOR,
    ("POST", SHOW + "/solo/{studio}"): MONITOR,
    ("DELETE", SHOW + "/solo/{studio}/{viewer}"): MONITOR,
}

PUBLIC_API = frozenset({("GET", "/api/openapi.json"), ("POST", "/api/login"), ("POST", "/api/logout")})

# Outside /api: each checks its own credential or is public by nature (health, pulls, pages).
OUTSIDE_API = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("GET", "/join/{token}"),  # the join token
        ("GET", "/host/{token}/ws"),  # the join token
        ("POST", "/whip/{show}/{studio}"),  # the join token (Bearer)
        ("DELETE", "/whip/{show}/{studio}/{session}"),
        ("PATCH", "/whip/{show}/{studio}/{session}"),
        ("OPTIONS", "/whip/{show}/{studio}"),
        ("OPTIONS", "/whip/{show}/{studio}/{session}"),
        ("POST", "/whep/{show}"),  # the viewer token, if the show sets one
        ("DELETE", "/whep/{show}/{viewer}"),
        ("PATCH", "/whep/{show}/{viewer}"),
        ("OPTIONS", "/whep/{show}"),
        ("OPTIONS", "/whep/{show}/{viewer}"),
        ("POST", "/return/{show}/{studio}"),  # the join token (Bearer)
        ("DELETE", "/return/{show}/{studio}/{feed}"),
        ("OPTIONS", "/return/{show}/{studio}"),
        ("OPTIONS", "/return/{show}/{studio}/{feed}"),
        ("GET", "/live/{show}.flv"),
        ("GET", "/live/{show}/{name}"),
        ("GET", "/control/{show}"),  # the page; it signs in through /api/login
        ("GET", "/static/{name}"),
    }
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def permission_for(method: str, path: str) -> Permission | None:
    """What a call of ``method path`` (a route's canonical path) needs; None = no operator."""
    method = "GET" if method == "HEAD" else method
    if (method, path) in PUBLIC_API or (not path.startswith("/api/") and (method, path) in OUTSIDE_API):
        return None
    return PERMISSIONS.get((method, path), SWITCH)


def roles_for(method: str, path: str) -> list[Role]:
    """The roles that may call a route (all of them when it needs no operator)."""
    needed = permission_for(method, path)
    return [role for role in Role if needed is None or role.may(needed)]


def route_of(request: web.Request) -> tuple[str, str] | None:
    """(method, canonical path) of the route a request matched; None for 404/405."""
    if request.match_info.http_exception is not None:
        return None
    resource = request.match_info.route.resource
    return (request.method, resource.canonical) if resource is not None else None


def client_key(request: web.Request, via: str) -> str:
    """The throttle's key for one client address and one way in (``login`` or ``bearer``).

    Apart, so a sign-in form guessed at from an address does not lock that address's API tools.
    """
    return f"{via}:{request.remote or '?'}"


def same_origin(request: web.Request) -> bool:
    """A browser names the page's origin: a request another site's page made is refused."""
    origin = request.headers.get("Origin")
    if origin is not None and origin not in (f"http://{request.host}", f"https://{request.host}"):
        return False
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


async def authenticate(request: web.Request) -> Actor:
    """The operator behind a request (bearer token, else session cookie); 401, or 429 while guessing."""
    app = request.app
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        actor = check_token(request, token.strip() if scheme.lower() == "bearer" else "", "bearer")
        if actor is None:
            raise Unauthorized("operator token is not valid")
        return actor
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise Unauthorized("sign in, or send Authorization: Bearer <operator token>")
    session = app[SESSIONS].read(cookie)
    if session is None or await app[SESSIONS].revoked(session.sid, app[STORE]):
        raise Unauthorized("session expired or signed out: sign in again")
    # A removed operator's cookie stops working with the next config; scope and role come from it too.
    actor = app[OPERATORS].by_name(session.name, session.role, session.sid)
    if actor is None:
        raise Unauthorized("session expired: sign in again")
    return actor


def check_cross_site(request: web.Request, actor: Actor | None) -> None:
    """CSRF defence for what a cookie authenticates (see :mod:`orchestrator.sessions`); 403 otherwise."""
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    if request.method in SAFE_METHODS and not upgrade:
        return
    if request.headers.get("Authorization"):
        return  # no browser attaches a bearer token by itself
    if not same_origin(request):
        raise Forbidden("cross-site request refused (Origin is not this server)")
    if actor is None or request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER, "")
    if request.app[SESSIONS].csrf_ok(actor.session, given) or request.content_type == "application/json":
        return
    raise Forbidden(f"cross-site request refused: send {CSRF_HEADER} (from GET /api/me) or a JSON body")


async def admit(request: web.Request) -> Actor | None:
    """The access decision for one request: the operator (or None on an open route), or an error."""
    route = route_of(request)
    if route is None:
        return None  # aiohttp answers 404/405 itself
    needed = permission_for(*route)
    if needed is None:
        if route[0] not in SAFE_METHODS and route[1].startswith("/api/"):
            check_cross_site(request, None)  # sign-in and sign-out only from our own pages
        return None
    actor = await authenticate(request)
    check_cross_site(request, actor)
    if not actor.may(needed):
        allowed = " or ".join(r.value for r in Role if r.may(needed))
        raise Forbidden(f"{actor.name} has the {actor.role.value} role; this needs the {allowed} role")
    show = request.match_info.get("show")
    if show is not None and not actor.sees(show):
        raise Forbidden(f"{actor.name} may not work on show {show!r}")
    return actor


ACTOR: web.RequestKey[Actor] = web.RequestKey("actor", Actor)


def operator(request: web.Request) -> Actor:
    """The operator the access middleware admitted for this request."""
    actor = request.get(ACTOR)
    if actor is None:  # a view reached without the middleware's decision: never serve it
        raise Unauthorized("sign in, or send Authorization: Bearer <operator token>")
    return actor


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token (Authorization: Bearer ...)")
    return token.strip()


async def check_password(request: web.Request, name: str, password: str) -> Actor | None:
    """A password sign-in, throttled per client and per account (429 while locked)."""
    throttle, keys = request.app[THROTTLE], (client_key(request, "login"), f"account:{name}")
    wait = throttle.retry_after(*keys)
    if wait:
        raise TooManyRequests(f"too many wrong passwords: retry in {wait} s", wait)
    actor = await asyncio.to_thread(request.app[OPERATORS].by_password, name, password)
    if actor is None:
        throttle.failed(*keys)
    else:
        throttle.succeeded(keys[1])
    return actor


def check_token(request: web.Request, token: str, via: str = "login") -> Actor | None:
    """A token sign-in or bearer token, throttled per client (429 while locked)."""
    throttle, client = request.app[THROTTLE], client_key(request, via)
    wait = throttle.retry_after(client)
    if wait:
        raise TooManyRequests(f"too many wrong credentials from this address: retry in {wait} s", wait)
    actor = request.app[OPERATORS].by_token(token)
    if actor is None:
        throttle.failed(client)
    return actor
