"""The show as the control page sees it: studios, the crew's monitors, alarms, audit events."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from orchestrator.answers.base import Answer, Object
from orchestrator.answers.catalogue import OnAirGraphics
from orchestrator.answers.mixer import Mixer
from orchestrator.answers.outputs import Outputs
from orchestrator.store import Cue, Event


class ShowSummary(Answer):
    id: str
    title: str


class ShowList(Answer):
    shows: list[ShowSummary]


class StudioView(Answer):
    id: str
    name: str
    name_en: str | None = None
    place: str | None = None
    online: bool
    signal: Annotated[
        Literal["ok", "none", "offline"],
        Field(description="none: a session, but no frame for alarms.NO_SIGNAL_AFTER_S"),
    ]
    frame_age_s: Annotated[float, Field(description="since its last frame reached the show")] | None
    audio_only: Annotated[bool, Field(description="sends sound only: on air as its studio card")] | None = None
    cue: Cue | None
    stats: Annotated[Object, Field(description="what arrives from the studio (WHIP session)")] | None


class SoloEncode(Answer):
    """One soloed studio's Opus encode (orchestrator/crewmonitor.py), shared by its listeners."""

    studio: str
    listeners: int
    cpu_cores: Annotated[float, Field(description="its thread's CPU time over its life")]


class Crew(Answer):
    """The crew's program monitors (WebRTC) and solo (PFL) streams on this node."""

    monitors: int
    monitors_total: int
    monitor_list: Annotated[list[Object], Field(description="each program monitor's WebRTC statistics")]
    solo_streams: int
    solos_total: int
    solo_refused: Annotated[int, Field(description="solo requests refused (limit reached, bad offer)")]
    solo_encodes: list[SoloEncode]


class Monitor(Answer):
    """The program monitor (MJPEG of the encoded output)."""

    fps: float
    width: int
    height: int
    delay_ms: Annotated[int, Field(description="tick to JPEG, plus half the poll period")] | None


class Alarm(Answer):
    """Something the crew must see; stays until acknowledged."""

    id: Annotated[str, Field(description="kind:subject, e.g. studio.no_signal:hongkong")]
    key: str | None = None
    kind: Literal["studio.no_signal", "program.fallback", "output.failed", "encoder.behind", "store.unavailable"]
    cause: Annotated[str, Field(description="what happened, in the crew's words")]
    fix: Annotated[str, Field(description="what to do about it")]
    raised_at: Annotated[float, Field(description="Unix seconds")]
    active: Annotated[bool, Field(description="its condition still holds")]
    cleared_at: Annotated[float | None, Field(description="Unix seconds, once the condition cleared")] = None
    acked_by: Annotated[str | None, Field(description="the operator who acknowledged it")] = None
    acked_at: Annotated[float | None, Field(description="Unix seconds")] = None


class Show(Mixer, OnAirGraphics):
    """Everything the control page shows about a show: the mixer and the graphics, with the
    studios, outputs, alarms and the crew's monitors."""

    show: str
    title: str
    on_air: Annotated[str, Field(description="what the last program frame showed")] | None = None
    studios: list[StudioView]
    products: Annotated[int, Field(description="number of products in the catalogue")]
    mixer: Annotated[Object, Field(description="program clock and encoder statistics")]
    outputs: Outputs
    delays: Annotated[
        dict[str, Object], Field(description="per delayed output: delay_s, behind_s (seconds behind live)")
    ]
    alarms: list[Alarm]
    monitor: Monitor
    crew: Crew | None
    timezone: Annotated[str, Field(description="the show's time zone (IANA name) for times shown to the crew")]


class AlarmList(Answer):
    alarms: list[Alarm]


class EventList(Answer):
    events: list[Event]
