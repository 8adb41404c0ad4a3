"""A request aiohttp's parser refuses is a JSON 400 with a reason, and one log line, not a traceback.

The new-user trial's example: ``curl '.../products?q=鸭'`` sends the UTF-8 bytes raw in the
request line; the answer was aiohttp's plain text and the log an ERROR with a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from orchestrator.views.answer import error_answer
from rooms.compat import aiohttpweb
from tests.conftest import OPERATOR, Server


async def _raw(server: Server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """``request`` sent as it is on a new connection: status, headers (lowercase names), body."""
    url = urlsplit(server.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)  # the server closes after a refusal
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("/api/shows/test-show/products?q=鸭", "invalid char in url query"),
        ("/api/shows/鸭/products", "invalid char in url"),
    ],
)
async def test_raw_utf8_in_the_url_is_a_json_400_without_a_traceback(
    server: Server, caplog: pytest.LogCaptureFixture, target: str, words: str
) -> None:
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {OPERATOR}\r\n\r\n".encode()
    with caplog.at_level(logging.DEBUG):
        status, headers, body = await _raw(server, request)
    assert status == 400 and headers["content-type"].startswith("application/json"), (status, headers, body)
    error = json.loads(body)["error"]
    assert error.startswith("malformed request: " + words) and "percent-encode" in error, error
    assert "\n" not in error and "\\x" not in error  # one line, not the parser's quote of the bytes
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert any("refused a malformed request" in r.getMessage() for r in caplog.records)
    # The service keeps running, and the same search percent-encoded is answered.
    status, answer = await server.api("GET", "/api/shows/test-show/products?q=%E9%B8%AD")
    assert status == 200, answer


async def test_a_request_that_is_not_http_is_a_json_400(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        status, headers, body = await _raw(server, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")
    assert status == 400 and json.loads(body)["error"].startswith("malformed request: "), body
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


@pytest.mark.server_error_expected  # the crash is the point (tests/conftest.py's guard)
async def test_a_handler_crash_keeps_aiohttps_own_answer(aiohttp_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Only the parser's 4xx refusals are answered here; a 500 still goes aiohttp's way (its text,
    an ERROR with the traceback): a bug of ours must stay loud."""

    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    aiohttpweb.install(error_answer)
    aiohttpweb.install(error_answer)  # idempotent: the original is never wrapped twice
    assert aiohttpweb._original is not aiohttpweb._handle_error
    app = web.Application()
    app.router.add_get("/", crash)
    srv = await aiohttp_server(app, host="127.0.0.1")
    with caplog.at_level(logging.ERROR):
        async with aiohttp.ClientSession() as http, http.get(srv.make_url("/")) as res:
            assert res.status == 500 and res.content_type == "text/plain", res
    assert any(r.exc_info and "a bug" in str(r.exc_info[1]) for r in caplog.records)
