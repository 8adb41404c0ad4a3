"""Who may do what: operator bearer tokens for the API, join tokens for studios."""

from __future__ import annotations

import hmac

from aiohttp import web

from orchestrator.errors import Unauthorized


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token (Authorization: Bearer ...)")
    return token.strip()


def require_operator(request: web.Request, operator_token: str) -> str:
    """Returns the actor name for the audit trail."""
    if not hmac.compare_digest(bearer(request).encode(), operator_token.encode()):
        raise Unauthorized("operator token is not valid")
    return "operator"
