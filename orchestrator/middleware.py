"""The two middlewares every request passes: errors become HTTP once, and the access policy."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from orchestrator.auth import ACTOR, admit
from orchestrator.errors import DomainError
from orchestrator.store import StoreUnavailable
from orchestrator.views.answer import error_answer

log = logging.getLogger(__name__)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        return error_answer(exc.message, exc.status, exc.headers)
    except StoreUnavailable as exc:
        log.warning("state store unavailable: %s", exc)
        return error_answer(f"state store unavailable, nothing changed: {exc}", 503)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's own refusals (404 route, 405, 413 body too large) as JSON too.
        return error_answer(exc.reason, exc.status, _keep(exc))


@web.middleware
async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Deny by default: the policy of :mod:`orchestrator.auth` decides before any view runs."""
    actor = await admit(request)
    if actor is not None:
        request[ACTOR] = actor
    return await handler(request)


def _keep(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k.lower() in ("allow",)}
