"""WHEP egress: a viewer POSTs a recvonly offer, gets the answer and a Location; DELETE ends it.

No credentials for viewers unless the show sets ``outputs.whep_viewer_token``
(then ``Authorization: Bearer {token}``).  CORS is open and exposes Location,
so a player page on any origin can watch.  Trickle ICE is not offered (PATCH:
405); aiortc's answer carries all our candidates.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from mixer.outputs.whepoutput import WhepFull, WhepOutput
from orchestrator.appkeys import SHOWS
from orchestrator.auth import bearer
from orchestrator.errors import BadRequest, NotFound, Unauthorized, Unavailable, UnsupportedMediaType
from orchestrator.showrunner import ShowRunner
from orchestrator.views.cors import cors_headers, preflight_headers, with_cors
from rooms.sdp import OfferError, announce_public_address
from rooms.whepsession import answer_viewer

CORS = cors_headers("Location, ETag")
PREFLIGHT = preflight_headers(CORS, "POST, DELETE, OPTIONS", "Authorization, Content-Type")
_cors = with_cors(CORS)


def _output(request: web.Request) -> tuple[ShowRunner, WhepOutput]:
    show_id = request.match_info["show"]
    runner = request.app[SHOWS].get(show_id)
    if runner is None:
        raise NotFound(f"no show {show_id!r}")
    token = runner.show.outputs.whep_viewer_token
    if token:
        try:
            given = bearer(request)
        except Unauthorized:
            raise Unauthorized("this show needs a viewer token (Authorization: Bearer ...)") from None
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthorized("viewer token is not valid")
    egress = runner.egress
    if egress is None or egress.whep is None:
        raise NotFound("WHEP is not enabled for this show")
    return runner, egress.whep


async def options(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={**PREFLIGHT, "Accept-Post": "application/sdp"})


@_cors
async def post(request: web.Request) -> web.Response:
    runner, output = _output(request)
    if request.content_type != "application/sdp":
        raise UnsupportedMediaType("Content-Type must be application/sdp")
    try:
        offer = (await request.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("SDP offer is not UTF-8 text") from None
    try:
        viewer = await answer_viewer(output, offer)
    except OfferError as exc:
        raise BadRequest(str(exc)) from None
    except WhepFull as exc:
        raise Unavailable(str(exc), headers={"Retry-After": "10"}) from None
    answer = viewer.answer
    if runner.whip.public_address:  # 1:1 NAT: the same announcement as for studios
        answer = announce_public_address(answer, runner.whip.public_address)
    return web.Response(
        status=201,
        text=answer,
        content_type="application/sdp",
        headers={"Location": f"/whep/{runner.show.id}/{viewer.id}", "ETag": f'"{viewer.id}"'},
    )


@_cors
async def delete(request: web.Request) -> web.Response:
    _, output = _output(request)
    viewer = output.viewer(request.match_info["viewer"])
    if viewer is None:
        raise NotFound("no such WHEP session (it may have ended)")
    await viewer.close()
    return web.Response(status=200)


@_cors
async def patch(request: web.Request) -> web.Response:
    _output(request)
    raise web.HTTPMethodNotAllowed("PATCH", ["DELETE"], reason="trickle ICE is not supported")
