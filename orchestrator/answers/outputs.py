"""The outputs' answers: each output's health, RTMP destinations, recording, delays, programs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from orchestrator.answers.base import Answer, Object


class OutputStatus(Answer):
    """One output's health; each kind adds its own counters."""

    name: str
    kind: str
    up: bool


class RtmpDestination(Answer):
    name: str
    kind: Literal["rtmp"]
    url: Annotated[str, Field(description="the URL with the stream key hidden")]
    state: Annotated[str, Field(description='"waiting for program" while the program it pushes is off')]
    up: bool
    program: Annotated[str | None, Field(description="the orientation it pushes (in the destination list)")] = None


class Recording(Answer):
    name: str
    kind: Literal["recording"]
    state: Literal["off", "starting", "recording", "stopped"]
    up: bool
    files: list[Object]


class OutputSet(Answer):
    """The outputs one program feeds (each present when the show has it)."""

    hls: OutputStatus | None = None
    flv: OutputStatus | None = None
    whep: OutputStatus | None = None
    rtmp: list[RtmpDestination] | None = None
    recording: Recording | None = None


class ProgramOutputs(OutputSet):
    """A show's further program (portrait beside landscape) and its own outputs."""

    orientation: Literal["landscape", "portrait"]
    width: int
    height: int
    delays: dict[str, Object] | None = None


class Outputs(OutputSet):
    """The main program's outputs, and the further programs' by program id."""

    programs: (
        Annotated[dict[str, ProgramOutputs], Field(description="the further program's outputs by program id")] | None
    ) = None


class OutputList(Answer):
    outputs: Outputs


class DestinationList(Answer):
    destinations: list[RtmpDestination]


class Removed(Answer):
    removed: str


class DelayChanged(Answer):
    output: str
    delay_s: float
    previous_s: float
    delays: Object


class ProgramsChanged(Answer):
    programs: Annotated[list[str], Field(description="the programs running now, main first")]
    outputs: dict[str, ProgramOutputs]


class Dumped(Answer):
    dumped: Annotated[dict[str, int], Field(description="output -> packets replaced by the slate")]
    delays: Object
