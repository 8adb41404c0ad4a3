"""The operator API's own description: ``GET /api/openapi.json`` (no credentials needed).

The document is built by the app factory from the route table (orchestrator/openapi.py); this
view only serves it, so views never import the module that imports every view.
"""

from __future__ import annotations

from aiohttp import web

from orchestrator.answers import OpenApiDocument
from orchestrator.appkeys import OPENAPI
from orchestrator.views.answer import answer, shape


async def openapi_json(request: web.Request) -> web.Response:
    return answer(shape(OpenApiDocument, request.app[OPENAPI]), headers={"Cache-Control": "no-cache"})
