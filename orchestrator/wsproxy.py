"""A WebSocket for a show another node runs, relayed to that node (browsers do not follow a
redirect on a WebSocket handshake). Used by :mod:`orchestrator.ownerredirect` for the control
page's live state and the join page's host socket, so a page loaded from any node keeps working.

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

log = logging.getLogger(__name__)

# Not Origin: the browser's origin is this node's; it is checked here (the owner would see a
# foreign origin and refuse the cookie-authenticated control socket).
_FORWARDED = ("Cookie", "Authorization", "User-Agent")


async def relay(request: web.Request, owner_url: str) -> web.StreamResponse:
    """Open the same path on ``owner_url`` and pump text/binary messages both ways."""
    if not same_origin(request):  # cookie-riding from another site's page
        raise Forbidden("WebSocket from another origin refused")
    target = owner_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + request.path_qs
    headers = {k: v for k in _FORWARDED if (v := request.headers.get(k)) is not None}
    async with aiohttp.ClientSession() as http:
        try:
            upstream = await http.ws_connect(target, headers=headers, heartbeat=10, timeout=aiohttp.ClientWSTimeout(5))
        except aiohttp.WSServerHandshakeError as exc:
            return web.json_response({"error": f"the show's node refused: {exc.message}"}, status=exc.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return web.json_response({"error": f"the show's node is unreachable: {exc}"}, status=503)
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
