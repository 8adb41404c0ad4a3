"""What every view needs: the show a path names, the JSON body, who is acting, the answer."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from orchestrator.answers import Mixer
from orchestrator.appkeys import SHOWS
from orchestrator.auth import operator
from orchestrator.errors import BadRequest, NotFound
from orchestrator.fields import first_problem
from orchestrator.showrunner import ShowRunner
from orchestrator.store import ShowState
from orchestrator.views.answer import answer, shape

if TYPE_CHECKING:
    from mixer.outputs.programoutputs import ProgramOutputs

M = TypeVar("M", bound=BaseModel)

__all__ = ["answer", "body", "json_body", "operator_name", "program_outputs", "query", "scene_view", "show_runner"]


def operator_name(request: web.Request) -> str:
    """The acting operator's name for the audit trail; the access check is orchestrator.auth's."""
    return operator(request).name


def scene_view(runner: ShowRunner, state: ShowState) -> web.Response:
    """The answer of every scene command (cut, preview, take, layout, panic, ftb, T-bar, audio,
    fallback policy): the stored version, program and preview with the mixer view (``Mixer``)."""
    view = {"version": state.version, "program": state.program, "preview": state.preview, **runner.mixer_view()}
    return answer(shape(Mixer, view))


def show_runner(request: web.Request) -> ShowRunner:
    runner = request.app[SHOWS].get(request.match_info["show"])
    if runner is None:
        raise NotFound(f"no show {request.match_info['show']!r}")
    return runner


def program_outputs(request: web.Request) -> tuple[ShowRunner, ShowRunner | ProgramOutputs]:
    """The show and the outputs of the program a path names: ``{show}`` (the main program: the
    runner's own outputs) or ``{show}-portrait`` (a further program, mixer/outputs/programoutputs.py).
    Both have ``hls``, ``hls_dir``, ``flv`` and ``egress``."""
    name = request.match_info["show"]
    shows = request.app[SHOWS]
    runner = shows.get(name)
    if runner is not None:
        return runner, runner
    for runner in shows.values():
        program = runner.more_programs.get(name)
        if program is not None:
            return runner, program
    raise NotFound(f"no show {name!r}")


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body is not valid JSON") from None
    except RecursionError:  # a few KB of brackets: refused, never a 500 with a traceback
        raise BadRequest("body is nested too deeply") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


def query(request: web.Request, model: type[M]) -> M:
    """The query string as ``model``; BadRequest names the first bad parameter."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise BadRequest(first_problem(exc)) from None


async def body(request: web.Request, model: type[M]) -> M:
    """The JSON body as ``model`` (an empty body is ``{}``); BadRequest names the first bad field.

    The one place where a request body's problems become a 400 (orchestrator/bodies.py).
    """
    data = await json_body(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(first_problem(exc)) from None
