"""Requests for a show another node runs, relayed to that node, for browsers.

Browsers do not follow a redirect on a WebSocket handshake, and on a redirect to another origin
``fetch`` drops the session cookie and ``Authorization``: so a browser's requests (the control
page, the join page and everything they call: API, WHIP, sockets) are relayed by the node the
browser reached, and the page keeps working through a take-over as long as that node lives.
Machine clients (encoders, CDNs, scripts) get the 307 instead (:mod:`orchestrator.ownerredirect`).

The handshake's credentials (cookie, Authorization, query) go along unchanged and the owner does
its own access check (its refusal becomes ours); the same-origin check is made here, where the
browser connected. Either side closing ends both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from aiohttp import web

from orchestrator.auth import same_origin
from orchestrator.errors import Forbidden
from orchestrator.views.answer import error_answer

log = logging.getLogger(__name__)

# Not Origin: the browser's origin is this node's; it is checked here (the owner would see a
# foreign origin and refuse the cookie-authenticated control socket).
_FORWARDED = ("Cookie", "Authorization", "User-Agent")


async def websocket(request: web.Request, owner_url: str) -> web.StreamResponse:
    """Open the same path on ``owner_url`` and pump text/binary messages both ways."""
    if not same_origin(request):  # cookie-riding from another site's page
        raise Forbidden("WebSocket from another origin refused")
    target = owner_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + request.path_qs
    headers = {k: v for k in _FORWARDED if (v := request.headers.get(k)) is not None}
    async with aiohttp.ClientSession() as http:
        try:
            upstream = await http.ws_connect(target, headers=headers, heartbeat=10, timeout=aiohttp.ClientWSTimeout(5))
        except aiohttp.WSServerHandshakeError as exc:
            return error_answer(f"the show's node refused: {exc.message}", exc.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return error_answer(f"the show's node is unreachable: {exc}", 503)
        ws = web.WebSocketResponse(heartbeat=10)
        await ws.prepare(request)
        async with upstream:
            down = asyncio.ensure_future(_pump(upstream, ws))
            up = asyncio.ensure_future(_pump(ws, upstream))
            await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
            for task in (down, up):
                task.cancel()
            await asyncio.gather(down, up, return_exceptions=True)
        with contextlib.suppress(ConnectionError):
            await ws.close()
        return ws


async def _pump(
    source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
) -> None:
    async for msg in source:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await sink.send_str(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        else:
            break


# Request headers a relayed HTTP call keeps; answer headers it passes back (hop-by-hop ones never).
_REQUEST = ("Cookie", "Authorization", "Content-Type", "Accept", "Accept-Language", "X-CSRF-Token", "If-Match")
_ANSWER = frozenset(
    h.lower()
    for h in (
        "Content-Type", "Location", "Link", "ETag", "Set-Cookie", "Retry-After", "Cache-Control",
        "WWW-Authenticate", "Accept-Patch", "Allow", "Content-Disposition",
        "Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Access-Control-Allow-Methods",
        "Access-Control-Allow-Headers",
    )
)  # fmt: skip


async def http(request: web.Request, owner_url: str) -> web.Response:
    """Send the same request to ``owner_url`` and return its answer (bodies are small: pages, JSON,
    SDP; streams are never relayed). 503 if the owner cannot be reached."""
    body = await request.read()
    headers = {k: v for k in _REQUEST if (v := request.headers.get(k)) is not None}
    if not same_origin(request):
        # Another site's page: the owner sees where it came from and refuses what it must (CSRF).
        headers["Origin"] = request.headers.get("Origin", "null")
        headers["Sec-Fetch-Site"] = request.headers.get("Sec-Fetch-Site", "cross-site")
    timeout = aiohttp.ClientTimeout(total=15)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session,
            session.request(
                request.method, owner_url + request.path_qs, data=body, headers=headers, allow_redirects=False
            ) as res,
        ):
            data = await res.read()
            answer = web.Response(status=res.status, body=data)
            for name, value in res.headers.items():
                if name.lower() in _ANSWER:
                    answer.headers.add(name, value)
            return answer
    except (aiohttp.ClientError, TimeoutError) as exc:
        return error_answer(f"the show's node is unreachable: {exc}", 503)
