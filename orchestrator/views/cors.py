"""CORS for the endpoints other sites' players and encoders call (WHIP, WHEP)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from orchestrator.errors import DomainError

Handler = Callable[[web.Request], Awaitable[web.Response]]


def cors_headers(expose: str) -> dict[str, str]:
    # "*" is safe here: tokens travel in the Authorization header, never in a cookie.
    return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": expose}


def preflight_headers(cors: dict[str, str], methods: str, headers: str) -> dict[str, str]:
    return {
        **cors,
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": headers,
        "Access-Control-Max-Age": "86400",
    }


def with_cors(cors: dict[str, str]) -> Callable[[Handler], Handler]:
    """CORS headers on every answer, errors included (a browser hides an uncorsed error)."""

    def decorate(handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.Response:
            try:
                response = await handler(request)
            except DomainError as exc:
                exc.headers.update(cors)
                raise
            response.headers.update(cors)
            return response

        return wrapped

    return decorate
