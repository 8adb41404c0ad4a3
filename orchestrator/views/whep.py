"""WHEP egress: a viewer POSTs a recvonly offer, gets the answer and a Location; DELETE ends it.

No credentials for viewers unless the show sets ``outputs.whep_viewer_token``
(then ``Authorization: Bearer {token}``).  CORS is open and exposes Location,
so a player page on any origin can watch.  Trickle ICE is not offered (PATCH:
405); aiortc's answer carries all our candidates.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from mixer.outputs.whepoutput import WhepOutput
from orchestrator.auth import bearer
from orchestrator.errors import NotFound, Unauthorized
from orchestrator.showrunner import ShowRunner
from orchestrator.views.common import program_outputs
from orchestrator.views.signalling import close_session, offer_refusals, sdp_answer, sdp_offer, whep_cors, whep_options
from rooms.whepsession import answer_viewer

options = whep_options


def _output(request: web.Request) -> tuple[ShowRunner, WhepOutput]:
    runner, program = program_outputs(request)  # {show}, or {show}-portrait for that program
    token = runner.show.outputs.whep_viewer_token
    if token:
        try:
            given = bearer(request)
        except Unauthorized:
            raise Unauthorized("this show needs a viewer token (Authorization: Bearer ...)") from None
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthorized("viewer token is not valid")
    egress = program.egress
    if egress is None or egress.whep is None:
        raise NotFound("WHEP is not enabled for this show")
    return runner, egress.whep


@whep_cors
async def post(request: web.Request) -> web.Response:
    runner, output = _output(request)
    offer = await sdp_offer(request)
    with offer_refusals():
        viewer = await answer_viewer(output, offer)
    return sdp_answer(runner, viewer.answer, f"/whep/{request.match_info['show']}/{viewer.id}", viewer.id)


@whep_cors
async def delete(request: web.Request) -> web.Response:
    _, output = _output(request)
    return await close_session(output.viewer(request.match_info["viewer"]), "no such WHEP session (it may have ended)")


@whep_cors
async def patch(request: web.Request) -> web.Response:
    _output(request)
    raise web.HTTPMethodNotAllowed("PATCH", ["DELETE"], reason="trickle ICE is not supported")
