"""A host's return feed: the join page POSTs a recvonly offer (WHEP style) with its join token.

``POST /return/{show}/{studio}`` (``Authorization: Bearer {join token}`` of that
studio, ``Content-Type: application/sdp``) → ``201``, the answer, ``Location``;
``DELETE`` on the Location ends it. A token of another studio gets ``403``; a
studio that has not joined (no WHIP session) gets ``409``. What the feed
carries: orchestrator/returnfeeds.py.
"""

from __future__ import annotations

from aiohttp import web

from orchestrator.errors import Conflict
from orchestrator.views.signalling import close_session, offer_refusals, sdp_answer, sdp_offer, whep_cors, whep_options
from orchestrator.views.whip import _authorised_show

options = whep_options


@whep_cors
async def post(request: web.Request) -> web.Response:
    runner, studio_id = _authorised_show(request)
    offer = await sdp_offer(request)
    if studio_id not in runner.sessions:
        raise Conflict("join first: the return feed is for a studio that is sending (POST /whip first)")
    with offer_refusals():
        viewer = await runner.returns.open_return(studio_id, offer)
    return sdp_answer(runner, viewer.answer, f"/return/{runner.show.id}/{studio_id}/{viewer.id}", viewer.id)


@whep_cors
async def delete(request: web.Request) -> web.Response:
    runner, studio_id = _authorised_show(request)
    feed = runner.returns.feed(studio_id, request.match_info["feed"])
    return await close_session(feed, "no such return feed (it may have ended)")
