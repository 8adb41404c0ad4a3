"""WHIP ingest (RFC 9725): POST starts a session, PATCH trickles ICE, DELETE ends it.

An offer we cannot serve gets 400 with the reason (no common codec, media outside
one BUNDLE group: rooms/sdp.py, rooms/compat/) before the studio shows online;
the studio is online only once its media arrives (rooms/liveness.py).
A trickled candidate we cannot use (an mDNS name, TCP, malformed) is ignored
(204), as RFC 9725 4.3.2 allows; a body that is not an SDP fragment is a 400.
ICE restart (a PATCH with new ICE credentials) is answered 422: aiortc cannot
restart ICE on a live connection, so clients (our join page does) POST a new
session instead; the new session replaces the old one without crew action.
Responses carry CORS headers, so a page on another origin can publish.
"""

from __future__ import annotations

from aiohttp import web

from orchestrator.appkeys import CONFIG
from orchestrator.auth import bearer
from orchestrator.config import IceServer
from orchestrator.errors import (
    BadRequest,
    Forbidden,
    PreconditionFailed,
    PreconditionRequired,
    Unavailable,
    UnprocessableContent,
    UnsupportedMediaType,
)
from orchestrator.joingrant import verify_join
from orchestrator.showrunner import ShowRunner
from orchestrator.views.cors import cors_headers, preflight_headers, with_cors
from orchestrator.views.signalling import sdp_offer
from rooms.remotesession import IngestUnavailable
from rooms.sdp import SdpFragError, parse_sdpfrag
from rooms.whipsession import IceRestartUnsupported, SdpError

SDPFRAG = "application/trickle-ice-sdpfrag"
CORS = cors_headers("Location, ETag, Link, Accept-Patch")
PREFLIGHT = preflight_headers(CORS, "POST, PATCH, DELETE, OPTIONS", "Authorization, Content-Type, If-Match")
_cors = with_cors(CORS)


def _authorised_show(request: web.Request) -> tuple[ShowRunner, str]:
    """Check the join token against the path; returns the show and studio id."""
    show_id, studio_id = request.match_info["show"], request.match_info["studio"]
    runner, grant = verify_join(request.app, bearer(request))
    if (grant.show, grant.studio) != (show_id, studio_id):
        raise Forbidden(f"this token is for {grant.show}/{grant.studio}, not {show_id}/{studio_id}")
    return runner, studio_id


def ice_server_links(servers: tuple[IceServer, ...]) -> list[str]:
    """RFC 9725 4.6: one ``Link: <url>; rel="ice-server"`` per STUN/TURN server."""
    links = []
    for server in servers:
        link = f'<{server.urls}>; rel="ice-server"'
        if server.username:
            link += f'; username="{server.username}"; credential="{server.credential}"; credential-type="password"'
        links.append(link)
    return links


async def options(request: web.Request) -> web.Response:
    """CORS preflight (no credentials are sent with it, so none are asked for)."""
    headers = {**PREFLIGHT, "Accept-Post": "application/sdp"}
    if "session" in request.match_info:
        headers["Accept-Patch"] = SDPFRAG
    return web.Response(status=204, headers=headers)


@_cors
async def post(request: web.Request) -> web.Response:
    runner, studio_id = _authorised_show(request)
    offer = await sdp_offer(request)
    try:
        # ?client= names the join page that publishes, so a second tab can be told apart;
        # ?reconnect=1 marks the page's automatic retries (see ShowRunner.publish).
        session = await runner.publish(
            studio_id,
            offer,
            client=request.query.get("client", "")[:64],
            reconnect=request.query.get("reconnect") == "1",
        )
    except SdpError as exc:
        raise BadRequest(str(exc)) from None
    except IngestUnavailable as exc:  # its worker died meanwhile: the publisher retries
        raise Unavailable(str(exc)) from None
    response = web.Response(
        status=201,
        text=session.answer,
        content_type="application/sdp",
        headers={
            "Location": f"/whip/{runner.show.id}/{studio_id}/{session.id}",
            "ETag": session.etag,
            "Accept-Patch": SDPFRAG,
        },
    )
    for link in ice_server_links(request.app[CONFIG].server.ice_servers):
        response.headers.add("Link", link)
    return response


@_cors
async def delete(request: web.Request) -> web.Response:
    runner, studio_id = _authorised_show(request)
    session = runner.session(studio_id, request.match_info["session"])
    await session.close()
    return web.Response(status=200)


@_cors
async def patch(request: web.Request) -> web.Response:
    """Trickle ICE: 204 once the candidates are added. ICE restart: 422 (see the module doc)."""
    runner, studio_id = _authorised_show(request)
    session = runner.session(studio_id, request.match_info["session"])
    if request.content_type != SDPFRAG:
        raise UnsupportedMediaType(f"Content-Type must be {SDPFRAG}")
    if_match = request.headers.get("If-Match")
    if if_match is None:
        raise PreconditionRequired("PATCH needs If-Match: the session's ETag (or * for an ICE restart)")
    if if_match.strip() == "*":
        raise UnprocessableContent("ICE restart is not supported: POST a new session instead")
    if session.etag not in [tag.strip() for tag in if_match.split(",")]:
        raise PreconditionFailed(f"If-Match does not match the session's ETag {session.etag}")
    try:
        frag = parse_sdpfrag((await request.read()).decode("utf-8", "replace"))
        await session.add_candidates(frag)
    except SdpFragError as exc:
        raise BadRequest(str(exc)) from None
    except IceRestartUnsupported as exc:
        raise UnprocessableContent(str(exc)) from None
    except IngestUnavailable as exc:
        raise Unavailable(str(exc)) from None
    return web.Response(status=204, headers={"ETag": session.etag})
