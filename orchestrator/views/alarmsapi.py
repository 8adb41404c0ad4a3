"""The show's alarms (rules in orchestrator/alarms.py): list and acknowledge."""

from __future__ import annotations

from aiohttp import web

from orchestrator.answers import Alarm, AlarmList
from orchestrator.bodies import EmptyBody
from orchestrator.views.answer import shape
from orchestrator.views.common import answer, body, operator_name, show_runner


async def list_alarms(request: web.Request) -> web.Response:
    """``{"alarms": [...]}``, newest first; the same list is in the show's state view."""
    operator_name(request)
    runner = show_runner(request)
    return answer(shape(AlarmList, {"alarms": runner.alarms.view()}))


async def acknowledge(request: web.Request) -> web.Response:
    """Someone has seen the alarm: it stops beeping, and goes once its condition clears. Audited."""
    actor = operator_name(request)
    runner = show_runner(request)
    await body(request, EmptyBody)
    return answer(shape(Alarm, await runner.acknowledge_alarm(request.match_info["alarm"], actor)))
