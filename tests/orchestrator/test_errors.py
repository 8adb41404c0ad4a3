"""Each domain error becomes its HTTP status once, at the edge (orchestrator/middleware.py)."""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler

from orchestrator import errors
from orchestrator.middleware import errors as error_middleware

# The status each kind is answered with (RFC 9110 section 15; 428 and 429: RFC 6585).
STATUSES = {
    errors.BadRequest: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.MethodNotAllowed: 405,
    errors.Conflict: 409,
    errors.PreconditionFailed: 412,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.UnprocessableContent: 422,
    errors.PreconditionRequired: 428,
    errors.TooManyRequests: 429,
    errors.Unavailable: 503,
}


def _raise(kind: type[errors.DomainError]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if kind is errors.Unauthorized:
            raise errors.Unauthorized()
        if kind is errors.TooManyRequests:
            raise errors.TooManyRequests("slow down", retry_after=0)
        raise kind(f"{kind.__name__} here")

    return handler


async def test_every_domain_error_is_its_status_with_a_json_message() -> None:
    app = web.Application(middlewares=[error_middleware])
    for kind in STATUSES:
        app.router.add_get(f"/{kind.__name__}", _raise(kind))
    assert set(STATUSES) == set(errors.DomainError.__subclasses__()), "a new kind needs its status here"
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        for kind, status in STATUSES.items():
            res = await client.get(f"/{kind.__name__}")
            assert res.status == status, kind
            assert (await res.json())["error"], kind
        assert (await client.get("/Unauthorized")).headers["WWW-Authenticate"].startswith("Bearer")
        assert (await client.get("/TooManyRequests")).headers["Retry-After"] == "1"


def test_a_subclass_keeps_its_parents_status_unless_it_names_one() -> None:
    class Gone(errors.NotFound):
        pass

    class Teapot(errors.NotFound, status=HTTPStatus.IM_A_TEAPOT):
        pass

    assert (Gone.status, Teapot.status, errors.NotFound.status) == (404, 418, 404)
