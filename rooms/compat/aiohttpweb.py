"""aiohttp's server: requests its HTTP parser refuses, answered by the app; pinned (rooms/compat/pins.py).

A request line the parser cannot read (``curl '.../products?q=鸭'`` sends the UTF-8 bytes raw;
RFC 3986 section 2.1 wants them percent-encoded, and llhttp refuses them with no lenient
flag for URLs) never reaches the app or its error middleware: aiohttp answers from
``RequestHandler.handle_error`` with a plain-text body and logs an ERROR with a traceback,
as for a crash of ours. The parser's refusals are the client's mistake, so this module
replaces that method (process-wide, by :func:`install`, which the app factory calls at start)
to answer them with the app's own refusal, ``render(reason, status)`` (the orchestrator passes
its ``error_answer``: ``{"error": ...}``), and log one INFO line; every other error (a 500 of a
handler) keeps aiohttp's own path.

Not applied by :func:`rooms.compat.install`: that one runs in every process (ingest workers
too, which serve no HTTP and need not import aiohttp's server).
Removed by: a public aiohttp hook for the parser's error answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, InvalidURLError
from aiohttp.web_protocol import RequestHandler

from rooms.compat.pins import Pins, log_changed

log = logging.getLogger(__name__)

# A refusal's answer: (one-line reason, 4xx status) -> the response sent before the connection closes.
Render = Callable[[str, int], web.StreamResponse]

_original = RequestHandler.handle_error
PINNED: Pins = {
    "RequestHandler.handle_error": (RequestHandler.handle_error, "94962ffef500c172"),
    # calls handle_error with the parser's exception and a 4xx status
    "RequestHandler._make_error_handler": (RequestHandler._make_error_handler, "b73dcf1dd177a243"),
}
URL_HINT = "percent-encode characters outside ASCII (RFC 3986 section 2.1), e.g. ?q=%E9%B8%AD for ?q=鸭"
_render: Render | None = None


def _first_line(exc: HttpProcessingError) -> str:
    # The parser's message goes on to quote the bytes it refused, over several lines.
    return (str(exc.message) or HTTPStatus.BAD_REQUEST.phrase).splitlines()[0].rstrip(": ")


def reason(exc: HttpProcessingError) -> str:
    """The parser's refusal as one line for the client (``malformed request: ...``), with a hint
    for the usual mistake (a raw non-ASCII character in the URL)."""
    first = _first_line(exc)
    if isinstance(exc, InvalidURLError):
        return f"malformed request: {first.lower()}: {URL_HINT}"
    return f"malformed request: {first}"


def _handle_error(
    self: RequestHandler,
    request: web.BaseRequest,
    status: int = 500,
    exc: BaseException | None = None,
    message: str | None = None,
) -> web.StreamResponse:
    refused = isinstance(exc, HttpProcessingError) and 400 <= status < 500
    if _render is None or not refused or request.writer.output_size > 0:
        return _original(self, request, status, exc, message)
    assert isinstance(exc, HttpProcessingError)
    # Not HTTP at all (TLS on the plain port, a scanner): aiohttp's own level for it, debug.
    level = logging.DEBUG if isinstance(exc, BadHttpMethod) else logging.INFO
    log.log(level, "refused a malformed request from %s: %s", request.remote, _first_line(exc))
    response = _render(reason(exc), status)
    response.force_close()  # the parser's state after a bad message is unknown: aiohttp closes too
    return response


def install(render: Render) -> None:
    """Answer the parser's refusals with ``render(reason, status)``, process-wide; idempotent
    (a second call only changes the renderer).

    Logs an error per pinned aiohttp method whose source differs from the pin.
    """
    global _render
    _render = render
    if RequestHandler.handle_error is _handle_error:
        return
    log_changed(PINNED)
    RequestHandler.handle_error = _handle_error  # type: ignore[method-assign]
