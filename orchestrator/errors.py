"""Domain errors. Handlers raise these; one middleware turns them into HTTP."""

from __future__ import annotations


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(DomainError):
    status = 400


class Unauthorized(DomainError):
    status = 401

    def __init__(self, message: str = "missing or invalid bearer token") -> None:
        super().__init__(message, {"WWW-Authenticate": 'Bearer realm="broadcast"'})


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class MethodNotAllowed(DomainError):
    status = 405


class Conflict(DomainError):
    status = 409


class PayloadTooLarge(DomainError):
    status = 413


class UnsupportedMediaType(DomainError):
    status = 415


class PreconditionFailed(DomainError):
    status = 412


class UnprocessableContent(DomainError):
    status = 422


class PreconditionRequired(DomainError):
    status = 428


class Unavailable(DomainError):
    status = 503


class TooManyRequests(DomainError):
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, {"Retry-After": str(max(retry_after, 1))})
