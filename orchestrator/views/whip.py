"""WHIP ingest (RFC 9725): a studio publishes with one POST, ends with DELETE."""

from __future__ import annotations

from aiohttp import web

from orchestrator.appkeys import SHOWS, TOKENS
from orchestrator.auth import bearer
from orchestrator.errors import BadRequest, Forbidden, NotFound, Unauthorized, UnsupportedMediaType
from orchestrator.showrunner import ShowRunner
from rooms.jointoken import TokenError
from rooms.whipsession import SdpError


def _authorised_show(request: web.Request) -> tuple[ShowRunner, str]:
    """Check the join token against the path; returns the show and studio id."""
    show_id, studio_id = request.match_info["show"], request.match_info["studio"]
    try:
        grant = request.app[TOKENS].verify(bearer(request))
    except TokenError as exc:
        raise Unauthorized(f"join token refused: {exc}") from None
    if (grant.show, grant.studio) != (show_id, studio_id):
        raise Forbidden(f"this token is for {grant.show}/{grant.studio}, not {show_id}/{studio_id}")
    runner = request.app[SHOWS].get(show_id)
    if runner is None:
        raise NotFound(f"no show {show_id!r}")
    return runner, studio_id


async def post(request: web.Request) -> web.Response:
    runner, studio_id = _authorised_show(request)
    if request.content_type != "application/sdp":
        raise UnsupportedMediaType("Content-Type must be application/sdp")
    body = await request.read()
    try:
        offer = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("SDP offer is not UTF-8 text") from None
    try:
        session = await runner.publish(studio_id, offer)
    except SdpError as exc:
        raise BadRequest(str(exc)) from None
    location = f"/whip/{runner.show.id}/{studio_id}/{session.id}"
    return web.Response(
        status=201,
        text=session.answer,  # type: ignore[attr-defined]
        content_type="application/sdp",
        headers={"Location": location, "ETag": f'"{session.id}"'},
    )


async def delete(request: web.Request) -> web.Response:
    runner, studio_id = _authorised_show(request)
    session = runner.session(studio_id, request.match_info["session"])
    await session.close()
    return web.Response(status=200)


async def patch(request: web.Request) -> web.Response:
    runner, studio_id = _authorised_show(request)
    runner.session(studio_id, request.match_info["session"])
    # Trickle ICE and ICE restart are not offered yet; RFC 9725 says 405 then.
    raise web.HTTPMethodNotAllowed("PATCH", ["DELETE"], reason="trickle ICE is not supported")
