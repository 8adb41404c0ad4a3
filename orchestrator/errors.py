"""Domain errors. Handlers raise these; one middleware turns them into HTTP.

Each kind names its status once, as a class keyword (``class NotFound(DomainError,
status=HTTPStatus.NOT_FOUND)``); :func:`orchestrator.middleware.errors` answers
``status`` with ``{"error": message}`` and the error's ``headers``. Statuses: RFC 9110 section 15
(429: RFC 6585 section 4; 428: RFC 6585 section 3).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import ClassVar


class DomainError(Exception):
    """A refusal: ``message`` is the one line the client reads, ``headers`` go on the answer."""

    status: ClassVar[int] = HTTPStatus.BAD_REQUEST.value

    def __init_subclass__(cls, *, status: HTTPStatus | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:  # without one, a subclass keeps its parent's
            cls.status = status.value

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(DomainError, status=HTTPStatus.BAD_REQUEST):
    """A body, parameter or header is malformed or out of range."""


class Unauthorized(DomainError, status=HTTPStatus.UNAUTHORIZED):
    """No valid credentials; the answer carries ``WWW-Authenticate: Bearer``."""

    def __init__(self, message: str = "missing or invalid bearer token") -> None:
        super().__init__(message, {"WWW-Authenticate": 'Bearer realm="broadcast"'})


class Forbidden(DomainError, status=HTTPStatus.FORBIDDEN):
    """Known, but not allowed: the role or show scope, a cross-site request, another studio's token."""


class NotFound(DomainError, status=HTTPStatus.NOT_FOUND):
    """No such show, studio, product, session or other resource."""


class MethodNotAllowed(DomainError, status=HTTPStatus.METHOD_NOT_ALLOWED):
    """The resource exists but not with this method."""


class Conflict(DomainError, status=HTTPStatus.CONFLICT):
    """The state forbids it now (a name taken, a studio not live, a show on another node)."""


class PayloadTooLarge(DomainError, status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE):
    """The body is over its limit (413)."""


class UnsupportedMediaType(DomainError, status=HTTPStatus.UNSUPPORTED_MEDIA_TYPE):
    """The body's Content-Type is not the one this resource takes (``application/sdp``...)."""


class PreconditionFailed(DomainError, status=HTTPStatus.PRECONDITION_FAILED):
    """``If-Match`` names another version (a WHIP session's ETag)."""


class UnprocessableContent(DomainError, status=HTTPStatus.UNPROCESSABLE_ENTITY):
    """Well-formed but not doable (an SDP fragment that cannot be applied, an ICE restart)."""


class PreconditionRequired(DomainError, status=HTTPStatus.PRECONDITION_REQUIRED):
    """A conditional request is required: ``If-Match`` is missing."""


class Unavailable(DomainError, status=HTTPStatus.SERVICE_UNAVAILABLE):
    """Cannot serve now (store down, outputs stopped, no capacity); nothing was changed."""


class TooManyRequests(DomainError, status=HTTPStatus.TOO_MANY_REQUESTS):
    """Rate-limited; the answer carries ``Retry-After`` in whole seconds (at least 1)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, {"Retry-After": str(max(retry_after, 1))})
