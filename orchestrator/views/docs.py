"""The operator API's own description: ``GET /api/openapi.json`` (no credentials needed)."""

from __future__ import annotations

from aiohttp import web

from orchestrator import openapi


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(openapi.document(), headers={"Cache-Control": "no-cache"})
