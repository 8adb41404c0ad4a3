"""The crew's program monitor and solo (PFL) streams: SDP offer in, answer out, DELETE ends.

Operators only (director or producer: ``Permission.MONITOR``), through the access
middleware like every ``/api`` route; the work is in :mod:`orchestrator.crewmonitor`.
"""

from __future__ import annotations

from aiohttp import web

from orchestrator.crewmonitor import CrewMonitor
from orchestrator.errors import NotFound
from orchestrator.showrunner import ShowRunner
from orchestrator.views.common import show_runner
from orchestrator.views.signalling import close_session, offer_refusals, sdp_answer, sdp_offer


def _crew(request: web.Request) -> tuple[ShowRunner, CrewMonitor]:
    runner = show_runner(request)
    if runner.crew is None:
        raise NotFound("this show is not running here")
    return runner, runner.crew


async def post_monitor(request: web.Request) -> web.Response:
    runner, crew = _crew(request)
    offer = await sdp_offer(request)
    with offer_refusals():
        viewer = await crew.add_monitor(offer)
    return sdp_answer(runner, viewer.answer, f"/api/shows/{runner.show.id}/monitor/{viewer.id}", viewer.id)


async def delete_monitor(request: web.Request) -> web.Response:
    _, crew = _crew(request)
    viewer = crew.monitor_viewer(request.match_info["viewer"])
    return await close_session(viewer, "no such monitor stream (it may have ended)")


async def post_solo(request: web.Request) -> web.Response:
    runner, crew = _crew(request)
    studio = request.match_info["studio"]
    offer = await sdp_offer(request)
    try:
        with offer_refusals():
            viewer = await crew.add_solo(studio, offer)
    except KeyError:
        raise NotFound(f"no studio {studio!r} in this show") from None
    return sdp_answer(runner, viewer.answer, f"/api/shows/{runner.show.id}/solo/{studio}/{viewer.id}", viewer.id)


async def delete_solo(request: web.Request) -> web.Response:
    _, crew = _crew(request)
    viewer = crew.solo_viewer(request.match_info["studio"], request.match_info["viewer"])
    return await close_session(viewer, "no such solo stream (it may have ended)")
