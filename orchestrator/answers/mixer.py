"""The vision and sound mixer's answers: layout, transition, audio, and the mixer after a command."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mixer.fallback import POLICIES
from mixer.scene import CORNERS, LAYOUTS, TRANSITIONS
from orchestrator.answers.base import Answer, Object
from orchestrator.fields import OneOf


class Layout(Answer):
    layout: Annotated[str, OneOf(tuple(LAYOUTS))]
    studios: Annotated[list[str], Field(description="main first; empty: the slate")]
    corner: Annotated[str, OneOf(tuple(CORNERS))]


class StudioAudio(Answer):
    gain_db: float
    mute: bool


class Audio(Answer):
    """Per-studio gain and mute with the last meter readings."""

    program: Annotated[Object, Field(description="program meter (peak/rms dBFS, limiter)")] | None
    studios: dict[str, StudioAudio]


class Transition(Answer):
    kind: Annotated[str, OneOf(tuple(TRANSITIONS))]
    duration_ms: int


class Mixer(Answer):
    """The vision and sound mixer after a command: every scene command's answer."""

    version: int
    program: str | None
    preview: str | None
    layout: Layout
    preview_layout: Layout | None = None
    ftb: bool | None = None
    tbar: float | None = None
    transition: Transition
    panic: bool
    fallback: (
        Annotated[
            Object,
            Field(description="while on a fallback: {from, to, latched, policy, returns_after_s, steady_s}"),
        ]
        | None
    ) = None
    fallback_policy: Annotated[str, OneOf(tuple(POLICIES))] | None = None
    audio: Audio
