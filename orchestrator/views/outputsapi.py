"""The operator's API for outputs: their status, RTMP destinations added and removed live, recording.

    GET    /api/shows/{show}/outputs                 every output's status
    GET    /api/shows/{show}/outputs/rtmp            RTMP destinations (stream keys hidden)
    POST   /api/shows/{show}/outputs/rtmp            {"name": "cdn-a", "url": "rtmp://host/app/key"} -> 201
    DELETE /api/shows/{show}/outputs/rtmp/{name}
    GET    /api/shows/{show}/recording
    POST   /api/shows/{show}/recording               {"on": true | false}
    POST   /api/shows/{show}/delay                   {"output": "hls", "delay_s": 10} (0-60)
    POST   /api/shows/{show}/dump                    the delayed outputs' held seconds -> the slate
    POST   /api/shows/{show}/programs                {"programs": ["landscape", "portrait"]}: add/remove one live

Changes go to the audit trail (best effort: media never waits on the store).
"""

from __future__ import annotations

import logging

from aiohttp import web

from mixer.outputs.egress import Egress
from orchestrator.answers import (
    DelayChanged,
    DestinationList,
    Dumped,
    OutputList,
    ProgramsChanged,
    Recording,
    Removed,
    RtmpDestination,
)
from orchestrator.bodies import DelayBody, EmptyBody, OnOffBody, ProgramsBody, RtmpBody
from orchestrator.errors import NotFound
from orchestrator.showrunner import ShowRunner
from orchestrator.views.answer import shape
from orchestrator.views.common import answer, body, operator_name, show_runner

log = logging.getLogger(__name__)


def _egress(runner: ShowRunner) -> Egress:
    if runner.egress is None:
        raise NotFound("the show's outputs are not running")
    return runner.egress


async def outputs(request: web.Request) -> web.Response:
    operator_name(request)
    described = await show_runner(request).describe()
    return answer(shape(OutputList, {"outputs": described["outputs"]}))


async def list_rtmp(request: web.Request) -> web.Response:
    operator_name(request)
    runner = show_runner(request)
    _egress(runner)
    return answer(shape(DestinationList, {"destinations": runner.rtmp_status()}))


async def add_rtmp(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    asked = await body(request, RtmpBody)
    added = await runner.add_rtmp(asked.name, asked.url, actor, asked.delay_s, asked.program)
    return answer(shape(RtmpDestination, added), status=201)


async def remove_rtmp(request: web.Request) -> web.Response:
    actor = operator_name(request)
    name = request.match_info["name"]
    await show_runner(request).remove_rtmp(name, actor)
    return answer(Removed(removed=name))


async def get_recording(request: web.Request) -> web.Response:
    operator_name(request)
    return answer(shape(Recording, _egress(show_runner(request)).recording_status()))


async def set_recording(request: web.Request) -> web.Response:
    actor = operator_name(request)
    on = (await body(request, OnOffBody)).on
    return answer(shape(Recording, await show_runner(request).set_recording(on, actor)))


async def set_delay(request: web.Request) -> web.Response:
    """One output's broadcast delay, while live: ``{"output": "hls", "delay_s": 10}``."""
    actor = operator_name(request)
    asked = await body(request, DelayBody)
    return answer(shape(DelayChanged, await show_runner(request).set_delay(asked.output, asked.delay_s, actor)))


async def set_programs(request: web.Request) -> web.Response:
    """The show's programs from now on, main first: ``{"programs": ["landscape", "portrait"]}``."""
    actor = operator_name(request)
    asked = await body(request, ProgramsBody)
    changed = await show_runner(request).set_programs(list(asked.programs), actor)
    return answer(shape(ProgramsChanged, changed))


async def dump(request: web.Request) -> web.Response:
    """Dump (broadcast delay): what the delayed outputs hold, not yet aired, becomes the slate."""
    actor = operator_name(request)
    await body(request, EmptyBody)
    return answer(shape(Dumped, await show_runner(request).dump(actor)))
