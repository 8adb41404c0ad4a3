"""The operator API's own description: ``GET /api/openapi.json`` (no credentials needed).

The document is built by the app factory from the route table (orchestrator/openapi.py); this
view only serves it, so views never import the module that imports every view.
"""

from __future__ import annotations

from aiohttp import web

from orchestrator.appkeys import OPENAPI


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI], headers={"Cache-Control": "no-cache"})
