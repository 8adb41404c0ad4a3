"""A host's return feed: the join page POSTs a recvonly offer (WHEP style) with its join token.

``POST /return/{show}/{studio}`` (``Authorization: Bearer {join token}`` of that
studio, ``Content-Type: application/sdp``) → ``201``, the answer, ``Location``;
``DELETE`` on the Location ends it. A token of another studio gets ``403``; a
studio that has not joined (no WHIP session) gets ``409``. What the feed
carries: orchestrator/returnfeeds.py.
"""

from __future__ import annotations

from aiohttp import web

from orchestrator.errors import BadRequest, Conflict, NotFound, UnsupportedMediaType
from orchestrator.views.cors import cors_headers, preflight_headers, with_cors
from orchestrator.views.whip import _authorised_show
from rooms.sdp import OfferError, announce_public_address

CORS = cors_headers("Location, ETag")
PREFLIGHT = preflight_headers(CORS, "POST, DELETE, OPTIONS", "Authorization, Content-Type")
_cors = with_cors(CORS)


async def options(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={**PREFLIGHT, "Accept-Post": "application/sdp"})


@_cors
async def post(request: web.Request) -> web.Response:
    runner, studio_id = _authorised_show(request)
    if request.content_type != "application/sdp":
        raise UnsupportedMediaType("Content-Type must be application/sdp")
    try:
        offer = (await request.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("SDP offer is not UTF-8 text") from None
    if studio_id not in runner.sessions:
        raise Conflict("join first: the return feed is for a studio that is sending (POST /whip first)")
    try:
        viewer = await runner.returns.open_return(studio_id, offer)
    except OfferError as exc:
        raise BadRequest(str(exc)) from None
    answer = viewer.answer
    if runner.whip.public_address:
        answer = announce_public_address(answer, runner.whip.public_address)
    return web.Response(
        status=201,
        text=answer,
        content_type="application/sdp",
        headers={"Location": f"/return/{runner.show.id}/{studio_id}/{viewer.id}", "ETag": f'"{viewer.id}"'},
    )


@_cors
async def delete(request: web.Request) -> web.Response:
    runner, studio_id = _authorised_show(request)
    viewer = runner.returns.feed(studio_id, request.match_info["feed"])
    if viewer is None:
        raise NotFound("no such return feed (it may have ended)")
    await viewer.close()
    return web.Response(status=200)
