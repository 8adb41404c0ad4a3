"""One route of the server and what it takes and answers: the route table's entry.

The route table (:mod:`orchestrator.routes`) is a list of :class:`Endpoint`; aiohttp gets each
one's :attr:`Endpoint.route`, and the OpenAPI document (:mod:`orchestrator.openapi`) is made from
the same entries, their models and their prose (``routes.md``). So a route cannot be served
without being described, nor described without being served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

JSON = "application/json"
SDP = "application/sdp"
SDPFRAG = "application/trickle-ice-sdpfrag"
HTML = "text/html"
CSV = "text/csv"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Who may call a route: "role" an operator whose role allows it (orchestrator/auth.py), "operator"
# any operator, "join" a studio's join token, "viewer" a show's viewer token (if it sets one).
Credential = Literal["none", "role", "operator", "join", "viewer"]
# A request body: a model (JSON), a media type (text of that type), or media type -> pydantic type.
Body = type[BaseModel] | str | Mapping[str, Any]


@dataclass(frozen=True)
class Endpoint:
    """A route (``method`` and aiohttp ``path``, served by ``handler``) and its contract.

    ``answer`` is the success answer: a model of :mod:`orchestrator.answers` (sent as JSON), a
    media type (a text or binary body of that type) or None (no body). ``body`` is the request
    body (see :data:`Body`), ``query`` the query string's model (:mod:`orchestrator.bodies`).
    ``errors`` are the statuses it may answer besides those every call of its kind can get
    (400 for a bad body or query, 401/403/429 for credentials, 404 for an unknown path id).
    ``auth`` is the credential it needs (:data:`Credential`); None: what :mod:`orchestrator.auth`
    decides for the route ("none" or "role"). ``fuzz`` False keeps it from the fuzz test (None:
    every ``/api`` route that neither takes SDP nor upgrades to a WebSocket).
    """

    method: str
    path: str
    handler: Handler
    answer: type[BaseModel] | str | None = None
    body: Body | None = None
    query: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    auth: Credential | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # success response header -> what it holds
    params: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # path parameter -> its schema
    fuzz: bool | None = None

    @property
    def route(self) -> web.RouteDef:
        """What aiohttp serves."""
        return web.route(self.method, self.path, self.handler)

    @property
    def media(self) -> str:
        """The success answer's media type ("" when it has no body)."""
        if isinstance(self.answer, str):
            return self.answer
        return JSON if self.answer is not None else ""

    @property
    def contents(self) -> dict[str, Any]:
        """The request body by media type: a model, a pydantic type, or ``str`` for text."""
        if self.body is None:
            return {}
        if isinstance(self.body, str):
            return {self.body: str}
        if isinstance(self.body, Mapping):
            return dict(self.body)
        return {JSON: self.body}


def offer(
    path: str, handler: Handler, what: str, auth: Credential | None = None, etag: bool = True, **contract: Any
) -> Endpoint:
    """A WebRTC offer (WHIP, WHEP and their kin): SDP in; 201, the SDP answer, and where ``what`` lives.

    The answer's ``Location`` (and ``ETag`` unless ``etag`` is False) name ``what``; ``headers``
    adds to them, ``errors`` to 415 (not SDP).
    """
    headers = {"Location": f"{what}'s URL"} | ({"ETag": f"{what}'s ETag"} if etag else {})
    headers |= contract.pop("headers", {})
    errors = (415, *contract.pop("errors", ()))
    return Endpoint("POST", path, handler, SDP, SDP, status=201, errors=errors, auth=auth, headers=headers, **contract)


def preflight(path: str, handler: Handler) -> Endpoint:
    """A CORS preflight of a route that pages on other origins call."""
    return Endpoint("OPTIONS", path, handler, status=204)
