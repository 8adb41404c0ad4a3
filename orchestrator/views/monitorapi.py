"""The crew's program monitor and solo (PFL) streams: SDP offer in, answer out, DELETE ends.

Operators only (director or producer: ``Permission.MONITOR``), through the access
middleware like every ``/api`` route; the work is in :mod:`orchestrator.crewmonitor`.
"""

from __future__ import annotations

from aiohttp import web

from mixer.outputs.whepoutput import WhepFull
from orchestrator.crewmonitor import CrewMonitor
from orchestrator.errors import BadRequest, NotFound, Unavailable, UnsupportedMediaType
from orchestrator.showrunner import ShowRunner
from orchestrator.views.common import show_runner
from rooms.sdp import OfferError, announce_public_address
from rooms.whepsession import WhepSession


def _crew(request: web.Request) -> tuple[ShowRunner, CrewMonitor]:
    runner = show_runner(request)
    if runner.crew is None:
        raise NotFound("this show is not running here")
    return runner, runner.crew


async def _offer(request: web.Request) -> str:
    if request.content_type != "application/sdp":
        raise UnsupportedMediaType("Content-Type must be application/sdp")
    try:
        return (await request.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("SDP offer is not UTF-8 text") from None


def _answer(runner: ShowRunner, viewer: WhepSession, location: str) -> web.Response:
    answer = viewer.answer
    if runner.whip.public_address:  # 1:1 NAT: the same announcement as for studios
        answer = announce_public_address(answer, runner.whip.public_address)
    return web.Response(
        status=201,
        text=answer,
        content_type="application/sdp",
        headers={"Location": location, "ETag": f'"{viewer.id}"'},
    )


async def post_monitor(request: web.Request) -> web.Response:
    runner, crew = _crew(request)
    offer = await _offer(request)
    try:
        viewer = await crew.add_monitor(offer)
    except OfferError as exc:
        raise BadRequest(str(exc)) from None
    except WhepFull as exc:
        raise Unavailable(str(exc), headers={"Retry-After": "10"}) from None
    return _answer(runner, viewer, f"/api/shows/{runner.show.id}/monitor/{viewer.id}")


async def delete_monitor(request: web.Request) -> web.Response:
    _, crew = _crew(request)
    viewer = crew.monitor_viewer(request.match_info["viewer"])
    if viewer is None:
        raise NotFound("no such monitor stream (it may have ended)")
    await viewer.close()
    return web.Response(status=200)


async def post_solo(request: web.Request) -> web.Response:
    runner, crew = _crew(request)
    studio = request.match_info["studio"]
    offer = await _offer(request)
    try:
        viewer = await crew.add_solo(studio, offer)
    except KeyError:
        raise NotFound(f"no studio {studio!r} in this show") from None
    except OfferError as exc:
        raise BadRequest(str(exc)) from None
    except WhepFull as exc:
        raise Unavailable(str(exc), headers={"Retry-After": "10"}) from None
    return _answer(runner, viewer, f"/api/shows/{runner.show.id}/solo/{studio}/{viewer.id}")


async def delete_solo(request: web.Request) -> web.Response:
    _, crew = _crew(request)
    viewer = crew.solo_viewer(request.match_info["studio"], request.match_info["viewer"])
    if viewer is None:
        raise NotFound("no such solo stream (it may have ended)")
    await viewer.close()
    return web.Response(status=200)
