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
        preview_layout=state.preview_layout,
        preview_studios=state.preview_studios,
        preview_corner=state.preview_corner,
        ftb=state.ftb,
        tbar=state.tbar,
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


def watched_studios(show: Show, state: ShowState) -> frozenset[str]:
    """Studios decoded at full rate: both buses' studios and the backup (or all, without standby)."""
    if not show.standby_decode:
        return frozenset(s.id for s in show.studios)
    buses = (state.program, *state.layout_studios, state.preview, *state.preview_studios, show.backup_studio)
    return frozenset(x for x in buses if x)


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


def take(s: ShowState, transition: str, ms: int) -> ShowState:
    """The preview bus (its whole layout) goes to air; the old program bus comes back to preview."""
    return dataclasses.replace(
        s,
        program=s.preview,
        layout=s.preview_layout if s.preview else "single",
        layout_studios=s.preview_studios if s.preview else (),
        corner=s.preview_corner,
        preview=s.program,
        preview_layout=s.layout if s.program else "single",
        preview_studios=s.layout_studios if s.program else (),
        preview_corner=s.corner,
        take_seq=s.take_seq + 1,
        transition=transition,
        transition_ms=ms,
        tbar=0.0,
    )


def on_preview(s: ShowState, studio: str | None) -> ShowState:
    """``studio`` alone on preview (a single-studio look), replacing what was built there."""
    return dataclasses.replace(s, preview=studio, preview_layout="single", preview_studios=())


def preview_layout(s: ShowState, layout: str, studios: list[str], corner: str | None) -> ShowState:
    """A layout built on preview (main studio first); nothing goes to air until a take."""
    return dataclasses.replace(
        s,
        preview=studios[0],
        preview_layout=layout,
        preview_studios=tuple(studios[1:]),
        preview_corner=corner or s.preview_corner,
    )


def fade_to_black(s: ShowState, on: bool, transition: str, ms: int) -> ShowState:
    return dataclasses.replace(s, ftb=on, take_seq=s.take_seq + 1, transition=transition, transition_ms=ms)


def bus_view(layout: str, main: str | None, others: tuple[str, ...], corner: str) -> dict[str, object]:
    return {"layout": layout, "studios": [main, *others] if main else [], "corner": corner}


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
        "layout": bus_view(state.layout, state.program, state.layout_studios, state.corner),
        "preview_layout": bus_view(state.preview_layout, state.preview, state.preview_studios, state.preview_corner),
        "transition": {"kind": state.transition, "duration_ms": state.transition_ms},
        "panic": state.panic,
        "ftb": state.ftb,
        "tbar": state.tbar,
        "fallback": program.fallback,
        "fallback_policy": state.fallback_policy or show.fallback_policy,
        "audio": {"program": meters.get("program"), "studios": audio},
    }
