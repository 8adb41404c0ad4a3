"""The vision and sound mixer API: take with a transition, layouts, panic, studio audio.

Thin like the rest of the API: read the body as its model (orchestrator/bodies.py),
authorise, call the show, answer the mixer view (``views.common.scene_view``). The switching
rules live in :class:`~orchestrator.scenecommands.SceneCommands` (state) and
:mod:`mixer.program` (what the clock does with it).
"""

from __future__ import annotations

from aiohttp import web

from orchestrator.answers import Audio
from orchestrator.bodies import (
    AudioBody,
    EmptyBody,
    FallbackPolicyBody,
    FtbBody,
    LayoutBody,
    PanicBody,
    TakeBody,
    TbarBody,
)
from orchestrator.views.answer import shape
from orchestrator.views.common import answer, body, operator_name, scene_view, show_runner


async def take(request: web.Request) -> web.Response:
    """``{"transition": "cut|fade|wipe|slide", "duration_ms": 500}``: preview to program, swapped."""
    actor = operator_name(request)
    runner = show_runner(request)
    take = await body(request, TakeBody)
    state = await runner.take(take.transition, take.duration_ms, actor)
    return scene_view(runner, state)


async def layout(request: web.Request) -> web.Response:
    """``{"layout": "single|pip|side-by-side", "studios": [main, other], "corner": ..., "transition": ...}``."""
    actor = operator_name(request)
    runner = show_runner(request)
    asked = await body(request, LayoutBody)
    state = await runner.set_layout(
        asked.layout, asked.studios, asked.corner, asked.transition, asked.duration_ms, actor
    )
    return scene_view(runner, state)


async def panic(request: web.Request) -> web.Response:
    """Slate and silence from the next frame. ``{"on": false}`` (or ``/unpanic``) lifts it."""
    actor = operator_name(request)
    runner = show_runner(request)
    return scene_view(runner, await runner.set_panic((await body(request, PanicBody)).on, actor))


async def unpanic(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    await body(request, EmptyBody)
    return scene_view(runner, await runner.set_panic(False, actor))


async def fallback_policy(request: web.Request) -> web.Response:
    """``{"policy": "auto|manual"}``: what the program does after a fallback, from now on."""
    actor = operator_name(request)
    runner = show_runner(request)
    policy = (await body(request, FallbackPolicyBody)).policy
    return scene_view(runner, await runner.set_fallback_policy(policy, actor))


async def audio(request: web.Request) -> web.Response:
    """``{"gain_db": -6.0, "mute": false}`` for one studio (either or both)."""
    actor = operator_name(request)
    runner = show_runner(request)
    asked = await body(request, AudioBody)
    state = await runner.set_audio(request.match_info["studio"], asked.gain_db, asked.mute, actor)
    return scene_view(runner, state)


async def meters(request: web.Request) -> web.Response:
    """Just the audio (settings and meters): cheap to poll several times a second."""
    operator_name(request)
    runner = show_runner(request)
    return answer(shape(Audio, runner.mixer_view()["audio"]))


async def ftb(request: web.Request) -> web.Response:
    """``{"on": true, "duration_ms": 500}``: fade the program to black and silence (false: back up)."""
    actor = operator_name(request)
    runner = show_runner(request)
    asked = await body(request, FtbBody)
    return scene_view(runner, await runner.fade_to_black(asked.on, asked.duration_ms, actor))


async def tbar(request: web.Request) -> web.Response:
    """``{"position": 0.4}``: the T-bar, 0 (program) to 1 (preview; the take happens there)."""
    actor = operator_name(request)
    runner = show_runner(request)
    position = (await body(request, TbarBody)).position
    return scene_view(runner, await runner.set_tbar(position, actor))
