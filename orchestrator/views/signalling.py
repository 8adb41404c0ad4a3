"""The WHEP-style SDP exchange every WebRTC view shares: offer in, ``201`` answer out, DELETE ends.

Used by WHIP ingest, WHEP egress, hosts' return feeds, the crew's monitor and solo
streams and talkback (RFC 9725 4.2 for WHIP; the WHEP draft has the same shape).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from aiohttp import web

from mixer.outputs.whepoutput import WhepFull
from orchestrator.errors import BadRequest, NotFound, Unavailable, UnsupportedMediaType
from orchestrator.showrunner import ShowRunner
from orchestrator.views.cors import cors_headers, preflight_headers, with_cors
from rooms.sdp import OfferError, announce_public_address

# WHEP egress and return feeds: a player page on any origin reads Location and ETag.
WHEP_CORS = cors_headers("Location, ETag")
WHEP_PREFLIGHT = preflight_headers(WHEP_CORS, "POST, DELETE, OPTIONS", "Authorization, Content-Type")
whep_cors = with_cors(WHEP_CORS)


class Closable(Protocol):
    async def close(self) -> None: ...


async def whep_options(request: web.Request) -> web.Response:
    """CORS preflight of a WHEP-style endpoint (no credentials are sent with it)."""
    return web.Response(status=204, headers={**WHEP_PREFLIGHT, "Accept-Post": "application/sdp"})


async def sdp_offer(request: web.Request) -> str:
    """The body as SDP text; UnsupportedMediaType unless ``application/sdp``, BadRequest unless UTF-8."""
    if request.content_type != "application/sdp":
        raise UnsupportedMediaType("Content-Type must be application/sdp")
    try:
        return (await request.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("SDP offer is not UTF-8 text") from None


@contextmanager
def offer_refusals() -> Iterator[None]:
    """An offer we cannot answer becomes BadRequest; a full output becomes 503 with Retry-After."""
    try:
        yield
    except OfferError as exc:
        raise BadRequest(str(exc)) from None
    except WhepFull as exc:
        raise Unavailable(str(exc), headers={"Retry-After": "10"}) from None


def sdp_answer(runner: ShowRunner, answer: str, location: str, etag: str | None = None) -> web.Response:
    """``201`` with the SDP answer, ``Location`` and (when given) ``ETag: "{etag}"``.

    With ``whip.public_address`` set (1:1 NAT) the answer announces it, as for studios.
    """
    if runner.whip.public_address:
        answer = announce_public_address(answer, runner.whip.public_address)
    headers = {"Location": location}
    if etag is not None:
        headers["ETag"] = f'"{etag}"'
    return web.Response(status=201, text=answer, content_type="application/sdp", headers=headers)


async def close_session(session: Closable | None, missing: str) -> web.Response:
    """DELETE of a session: NotFound(``missing``) when it is gone, else close it and answer ``200``."""
    if session is None:
        raise NotFound(missing)
    await session.close()
    return web.Response(status=200)
