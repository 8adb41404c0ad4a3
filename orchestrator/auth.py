"""Who may do what, decided in one place for every operator API route.

Reads are open to every signed-in operator; producers may also change cards,
products, the rundown and cues; everything else (switching, audio, outputs,
studios, links) needs a director.
"""

from __future__ import annotations

from aiohttp import web

from orchestrator.appkeys import OPERATORS
from orchestrator.errors import Unauthorized
from orchestrator.operators import Actor, Role

PRODUCER_WRITES = frozenset(
    {
        "/api/shows/{show}/cards",
        "/api/shows/{show}/cards/{slot}",
        "/api/shows/{show}/products/{product}",
        "/api/shows/{show}/products/import",
        "/api/shows/{show}/rundown",
        "/api/shows/{show}/lower-third",
        "/api/shows/{show}/logo",
        "/api/shows/{show}/studios/{studio}/cue",
    }
)


def needed_role(request: web.Request) -> Role:
    if request.method in ("GET", "HEAD"):
        return Role.PRODUCER
    route = request.match_info.route.resource
    canonical = route.canonical if route is not None else ""
    return Role.PRODUCER if canonical in PRODUCER_WRITES else Role.DIRECTOR


def operator(request: web.Request) -> Actor:
    """The signed-in operator, checked against the route's policy (401/403 otherwise)."""
    return request.app[OPERATORS].require(request, needed_role(request))


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token (Authorization: Bearer ...)")
    return token.strip()
