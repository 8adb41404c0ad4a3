"""The vision and sound mixer API: take with a transition, layouts, panic, studio audio.

Thin like the rest of the API: parse and range-check the body, authorise, call
the show. The switching rules live in :class:`ShowRunner` (state) and
:mod:`mixer.program` (what the clock does with it).
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from mixer.fallback import POLICIES
from mixer.scene import CORNERS, GAIN_DB_MAX, GAIN_DB_MIN, LAYOUTS, MAX_TRANSITION_MS, TRANSITIONS
from orchestrator.errors import BadRequest
from orchestrator.showrunner import ShowRunner
from orchestrator.store import ShowState
from orchestrator.views.common import json_body, operator_name, show_runner


def _fields(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")


def _choice(body: dict[str, Any], key: str, choices: tuple[str, ...], default: str | None) -> str | None:
    value = body.get(key, default)
    if value is None:
        return None
    if value not in choices:
        raise BadRequest(f"'{key}' must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def _duration(body: dict[str, Any]) -> int | None:
    """Transition duration in ms, or None for the show's default."""
    if body.get("duration_ms") is None:
        return None
    value = body["duration_ms"]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TRANSITION_MS:
        raise BadRequest(f"'duration_ms' must be an integer 0-{MAX_TRANSITION_MS}; got {value!r}")
    return value


def _view(runner: ShowRunner, state: ShowState) -> web.Response:
    return web.json_response(
        {"version": state.version, "program": state.program, "preview": state.preview, **runner.mixer_view()}
    )


async def take(request: web.Request) -> web.Response:
    """``{"transition": "cut|fade|wipe|slide", "duration_ms": 500}``: preview to program, swapped."""
    actor = operator_name(request)
    runner = show_runner(request)
    body = await json_body(request)
    _fields(body, {"transition", "duration_ms"})
    transition = _choice(body, "transition", TRANSITIONS, "cut") or "cut"
    state = await runner.take(transition, _duration(body), actor)
    return _view(runner, state)


async def layout(request: web.Request) -> web.Response:
    """``{"layout": "single|pip|side-by-side", "studios": [main, other], "corner": ..., "transition": ...}``."""
    actor = operator_name(request)
    runner = show_runner(request)
    body = await json_body(request)
    _fields(body, {"layout", "studios", "corner", "transition", "duration_ms"})
    if "layout" not in body:
        raise BadRequest(f"body needs 'layout' ({', '.join(LAYOUTS)})")
    kind = _choice(body, "layout", LAYOUTS, None) or "single"
    studios = body.get("studios")
    if studios is not None and (not isinstance(studios, list) or not all(isinstance(s, str) and s for s in studios)):
        raise BadRequest("'studios' must be a list of studio ids, main first")
    corner = _choice(body, "corner", CORNERS, None)
    transition = _choice(body, "transition", TRANSITIONS, "cut") or "cut"
    state = await runner.set_layout(kind, studios, corner, transition, _duration(body), actor)
    return _view(runner, state)


async def panic(request: web.Request) -> web.Response:
    """Slate and silence from the next frame. ``{"on": false}`` (or ``/unpanic``) lifts it."""
    actor = operator_name(request)
    runner = show_runner(request)
    body = await json_body(request)
    _fields(body, {"on"})
    on = body.get("on", True)
    if not isinstance(on, bool):
        raise BadRequest("'on' must be true or false")
    return _view(runner, await runner.set_panic(on, actor))


async def unpanic(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    _fields(await json_body(request), set())
    return _view(runner, await runner.set_panic(False, actor))


async def fallback_policy(request: web.Request) -> web.Response:
    """``{"policy": "auto|manual"}``: what the program does after a fallback, from now on."""
    actor = operator_name(request)
    runner = show_runner(request)
    body = await json_body(request)
    _fields(body, {"policy"})
    policy = _choice(body, "policy", POLICIES, None)
    if policy is None:
        raise BadRequest(f"body needs 'policy' ({', '.join(POLICIES)})")
    return _view(runner, await runner.set_fallback_policy(policy, actor))


async def audio(request: web.Request) -> web.Response:
    """``{"gain_db": -6.0, "mute": false}`` for one studio (either or both)."""
    actor = operator_name(request)
    runner = show_runner(request)
    body = await json_body(request)
    _fields(body, {"gain_db", "mute"})
    if not body:
        raise BadRequest("body needs 'gain_db' and/or 'mute'")
    gain = body.get("gain_db")
    if gain is not None and (
        isinstance(gain, bool)
        or not isinstance(gain, (int, float))
        or not GAIN_DB_MIN <= gain <= GAIN_DB_MAX  # first: math.isfinite overflows on a huge integer
        or not math.isfinite(gain)
    ):
        raise BadRequest(f"'gain_db' must be a number {GAIN_DB_MIN:g} to {GAIN_DB_MAX:+g}; got {gain!r}")
    mute = body.get("mute")
    if mute is not None and not isinstance(mute, bool):
        raise BadRequest("'mute' must be true or false")
    state = await runner.set_audio(request.match_info["studio"], None if gain is None else float(gain), mute, actor)
    return _view(runner, state)


async def meters(request: web.Request) -> web.Response:
    """Just the audio (settings and meters): cheap to poll several times a second."""
    operator_name(request)
    runner = show_runner(request)
    return web.json_response(runner.mixer_view()["audio"])


async def ftb(request: web.Request) -> web.Response:
    """``{"on": true, "duration_ms": 500}``: fade the program to black and silence (false: back up)."""
    actor = operator_name(request)
    runner = show_runner(request)
    body = await json_body(request)
    _fields(body, {"on", "duration_ms"})
    on = body.get("on", True)
    if not isinstance(on, bool):
        raise BadRequest("'on' must be true or false")
    return _view(runner, await runner.fade_to_black(on, _duration(body), actor))


async def tbar(request: web.Request) -> web.Response:
    """``{"position": 0.4}``: the T-bar, 0 (program) to 1 (preview; the take happens there)."""
    actor = operator_name(request)
    runner = show_runner(request)
    body = await json_body(request)
    _fields(body, {"position"})
    position = body.get("position")
    if (
        isinstance(position, bool)
        or not isinstance(position, (int, float))
        or not 0 <= position <= 1  # first: math.isfinite overflows on a huge integer
        or not math.isfinite(position)
    ):
        raise BadRequest(f"'position' must be a number 0-1; got {position!r}")
    return _view(runner, await runner.set_tbar(float(position), actor))
