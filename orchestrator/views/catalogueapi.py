"""The catalogue at scale: import, and the running order per studio."""

from __future__ import annotations

from aiohttp import web

from orchestrator.answers import Imported, Rundown
from orchestrator.bodies import RundownBody
from orchestrator.errors import PayloadTooLarge
from orchestrator.productimport import parse_products
from orchestrator.views.common import answer, body, operator_name, show_runner

MAX_IMPORT_BYTES = 16 * 1024 * 1024  # a 20,000-row catalogue is ~4 MB of CSV


async def _read_up_to(request: web.Request, limit: int) -> bytes:
    """The body, with a limit of its own: the app-wide one is sized for SDP and JSON commands."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"a catalogue import is limited to {limit // (1024 * 1024)} MB")
    data = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(f"a catalogue import is limited to {limit // (1024 * 1024)} MB")
    return bytes(data)


async def import_products(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    products = parse_products(await _read_up_to(request, MAX_IMPORT_BYTES), request.content_type)
    total = await runner.import_products(products, actor)
    return answer(Imported(imported=len(products), total=total))


async def get_rundown(request: web.Request) -> web.Response:
    operator_name(request)
    return answer(Rundown(studios=show_runner(request).rundown))


async def put_rundown(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    rundown = await runner.set_rundown((await body(request, RundownBody)).studios, actor)
    return answer(Rundown(studios=rundown))
