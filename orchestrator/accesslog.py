"""The access log, with every secret a URL or header can carry replaced by ``<redacted>``.

A join token in a path (``/join/{token}``, ``/host/{token}/ws``), in a query string
(``?token=``) or in the ``Referer`` of a request the join page made would let anyone who
reads the log go on air; bearer tokens travel in ``Authorization``, which is never logged.
Format (aiohttp's default, redacted): ``remote "METHOD path HTTP/x.y" status bytes seconds
"referer" "user-agent"``.
"""

from __future__ import annotations

import re

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

REDACTED = "<redacted>"
_SECRETS = (
    (re.compile(r"(/join/)[^/?#\s]+"), rf"\g<1>{REDACTED}"),
    (re.compile(r"(/host/)[^/?#\s]+(/ws)"), rf"\g<1>{REDACTED}\g<2>"),
    (re.compile(r"([?&](?:token|access_token|auth)=)[^&#\s]*", re.IGNORECASE), rf"\g<1>{REDACTED}"),
)


def redact(text: str) -> str:
    """``text`` (a path, URL or header) without the tokens it may carry."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingAccessLogger(AbstractAccessLogger):
    """``access_log_class`` for aiohttp's runner: one line per request, secrets redacted."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        version = request.version
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %d %.3f "%s" "%s"',
            request.remote or "-",
            request.method,
            redact(request.raw_path),
            version.major,
            version.minor,
            response.status,
            response.body_length,
            time,
            redact(request.headers.get("Referer", "-")),
            request.headers.get("User-Agent", "-"),
        )
