"""The mixer's side of the show state: the Scene the clock runs, and its API view."""

from __future__ import annotations

import dataclasses
from typing import Any

from mixer.planes import parse_colour
from mixer.program import Program, Scene
from orchestrator.config import Show
from orchestrator.store import ShowState


def scene_of(show: Show, state: ShowState) -> Scene:
    """What the program clock should do, from the stored state and the show's settings."""
    return Scene(
        program=state.program,
        preview=state.preview,
        layout=state.layout,
        layout_studios=state.layout_studios,
        corner=state.corner,
        panic=state.panic,
        take_seq=state.take_seq,
        transition=state.transition,
        transition_ms=state.transition_ms,
        gains_db=dict(state.gains_db),
        muted=frozenset(state.muted),
        stale_after=show.fallback_after,
        backup=show.backup_studio or None,
        fallback_policy=state.fallback_policy or show.fallback_policy,
        return_after=show.fallback_return_after,
        fit=show.fit,
        fill_rgb=parse_colour(show.fill_colour),
        av_sync_ms=show.av_sync_ms,
    )


def on_program(s: ShowState, studio: str | None, transition: str, ms: int, **changes: Any) -> ShowState:
    """``studio`` becomes the program's main studio with a new take; the layout stays.

    If it was already in the layout (a pip inset, say), it swaps places with the old main.
    """
    swapped = (s.program if x == studio else x for x in s.layout_studios)
    others = tuple(x for x in swapped if x is not None)
    layout = s.layout if others else "single"
    return dataclasses.replace(
        s,
        program=studio,
        layout=layout,
        layout_studios=others,
        take_seq=s.take_seq + 1,
        transition=transition,
        transition_ms=ms,
        **changes,
    )


def mixer_view(show: Show, state: ShowState, program: Program) -> dict[str, object]:
    """Layout, panic and audio (settings and meters) for the show's API view."""
    meters: dict[str, Any] = dict(program.audio.meters())
    studio_meters: dict[str, Any] = meters.get("studios") or {}
    audio = {
        studio.id: {
            "gain_db": state.gains_db.get(studio.id, 0.0),
            "mute": studio.id in state.muted,
            **studio_meters.get(studio.id, {}),
        }
        for studio in show.studios
    }
    return {
        "layout": {
            "layout": state.layout,
            "studios": [state.program, *state.layout_studios] if state.program else [],
            "corner": state.corner,
        },
        "transition": {"kind": state.transition, "duration_ms": state.transition_ms},
        "panic": state.panic,
        "fallback": program.fallback,
        "fallback_policy": state.fallback_policy or show.fallback_policy,
        "audio": {"program": meters.get("program"), "studios": audio},
    }
