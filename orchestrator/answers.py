"""The operator API's answers, as models: the OpenAPI document's response schemas come from here.

Each model describes what a view sends (``web.json_response`` of a dict the show builds); the
document (:mod:`orchestrator.openapi`) takes every answer's schema from these models, and the
fuzz test checks the live server's answers against it (schemathesis' response conformance),
so an answer that drifts from its model fails the suite. Fields without a default are always
sent; ``X | None = None`` fields may be absent or null. Units: prices in yuan, times in Unix
seconds (``_at``, ``_until``), durations in the unit their name ends with (``_s``, ``_ms``).

Request bodies are in :mod:`orchestrator.bodies`; the stored state and audit events are the
store's dataclasses (:class:`~orchestrator.store.ShowState`, :class:`~orchestrator.store.Event`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from mixer.fallback import POLICIES
from mixer.graphics.director import SLOTS
from mixer.scene import CORNERS, LAYOUTS, TRANSITIONS
from orchestrator.bodies import LIVE_FIELDS
from orchestrator.fields import OneOf
from orchestrator.operators import Role
from orchestrator.store import Cue, Event

Slot = Annotated[str, OneOf(tuple(SLOTS))]
LiveField = Annotated[str, OneOf(LIVE_FIELDS)]
Object = dict[str, Any]


class Answer(BaseModel):
    """An answer's model: open (a view may add a field before the model does: not a failure)."""


class Error(Answer):
    """Every 4xx/5xx answer of the API."""

    error: str


class Operator(Answer):
    name: str
    role: Annotated[str, OneOf(tuple(r.value for r in Role))]
    shows: Annotated[list[str], Field(description="only these shows (absent: every show)")] | None = None


class SignedOut(Answer):
    signed_out: Literal[True]


class ShowSummary(Answer):
    id: str
    title: str


class ShowList(Answer):
    shows: list[ShowSummary]


class Cluster(Answer):
    """Without ``server.cluster``: ``node`` null, the lists empty."""

    node: str | None
    nodes: list[Object]
    owners: dict[str, str | None]


class Moving(Answer):
    show: str
    from_: Annotated[str, Field(alias="from")]
    to: str


class Card(Answer):
    """A product card on air, with the price that went on air."""

    slot: Slot
    product: str
    name: str
    price: float
    was_price: float | None = None
    shown_at: float | None = None
    countdown_until: float | None = None
    countdown_left_s: int | None = None
    actor: str | None = None


class LowerThird(Answer):
    studio: str
    text: str | None = None


class Graphics(Answer):
    version: int | None = None
    cards: list[Card]
    lower_third: LowerThird | None
    logo: bool


class Product(Answer):
    """A product with the crew's live values (price, stock, sold, promo) applied."""

    id: str
    name: str
    name_en: str | None = None
    enterprise: str
    price: Annotated[float, Field(description="live price (yuan)")]
    catalogue_price: float
    was_price: float | None = None
    promo: str | None = None
    stock: int | None = None
    sold: int | None = None
    buy_url: str | None = None
    image: str | None = None
    overridden: list[LiveField]
    on_air: list[Slot]


class StudioView(Answer):
    id: str
    name: str
    name_en: str | None = None
    place: str | None = None
    online: bool
    audio_only: Annotated[bool, Field(description="sends sound only: on air as its studio card")] | None = None
    cue: Cue | None
    stats: Annotated[Object, Field(description="what arrives from the studio (WHIP session)")] | None


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


class ProgramOutputs(Answer):
    """A show's further program (portrait beside landscape) and its own outputs."""

    orientation: Literal["landscape", "portrait"]
    width: int
    height: int
    hls: OutputStatus | None = None
    flv: OutputStatus | None = None
    whep: OutputStatus | None = None
    rtmp: list[RtmpDestination] | None = None
    recording: Recording | None = None
    delays: dict[str, Object] | None = None


class Outputs(Answer):
    hls: OutputStatus | None = None
    flv: OutputStatus | None = None
    whep: OutputStatus | None = None
    rtmp: list[RtmpDestination] | None = None
    recording: Recording | None = None
    programs: (
        Annotated[dict[str, ProgramOutputs], Field(description="the further program's outputs by program id")] | None
    ) = None


class SoloEncode(Answer):
    """One soloed studio's Opus encode (orchestrator/crewmonitor.py), shared by its listeners."""

    studio: str
    listeners: int
    cpu_cores: Annotated[float, Field(description="its thread's CPU time over its life")]


class Crew(Answer):
    """The crew's program monitors (WebRTC) and solo (PFL) streams on this node."""

    monitors: int
    monitors_total: int
    solo_streams: int
    solos_total: int
    solo_encodes: list[SoloEncode]


class Show(Answer):
    """Everything the control page shows about a show."""

    show: str
    title: str
    program: Annotated[str, Field(description="the main studio on program; null: slate")] | None
    preview: str | None
    on_air: Annotated[str, Field(description="what the last program frame showed")] | None = None
    version: int
    studios: list[StudioView]
    cards: list[Card]
    lower_third: LowerThird | None = None
    logo: bool | None = None
    products: Annotated[int, Field(description="number of products in the catalogue")] | None = None
    layout: Layout | None = None
    transition: Object | None = None
    panic: bool
    fallback: Object | None = None
    audio: Audio
    mixer: Annotated[Object, Field(description="program clock and encoder statistics")] | None = None
    outputs: Outputs
    delays: (
        Annotated[dict[str, Object], Field(description="per delayed output: delay_s, behind_s (seconds behind live)")]
        | None
    ) = None
    crew: Crew | None = None


class Alarm(Answer):
    """Something the crew must see; stays until acknowledged."""

    id: Annotated[str, Field(description="kind:subject, e.g. studio.no_signal:hongkong")]
    key: str | None = None
    kind: Literal["studio.no_signal", "program.fallback", "output.failed", "encoder.behind"]
    cause: str
    fix: str
    raised_at: float
    active: bool
    cleared_at: float | None = None
    acked_by: str | None = None
    acked_at: float | None = None


class JoinLink(Answer):
    show: str
    studio: str
    name: str | None = None
    token: str
    join_url: str
    whip_url: str
    # Only with server.rtmp_ingest: for encoders without WebRTC (the stream key is the token).
    rtmp_url: str | None = None
    rtmp_server: str | None = None
    rtmp_key: str | None = None


class EventList(Answer):
    events: list[Event]


class LinkList(Answer):
    links: list[JoinLink]


class AlarmList(Answer):
    alarms: list[Alarm]


class ProductList(Answer):
    products: list[Product]


class Imported(Answer):
    imported: Annotated[int, Field(description="products in this import")]
    total: Annotated[int, Field(description="products of the show after it")]


class Rundown(Answer):
    studios: Annotated[dict[str, list[str]], Field(description="studio id -> product ids, in order")]


class ProductAnswer(Answer):
    product: Product


class CardAnswer(Answer):
    card: Card


class CueAnswer(Answer):
    studio: str
    cue: Cue
    version: int


class Kicked(Answer):
    studio: str
    kicked: Literal[True]
    link_generation: int


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


class Health(Answer):
    status: Literal["ok", "degraded"]
    shows: Object


class OpenApiDocument(Answer):
    openapi: str
    paths: Object


# -- talk and listen (orchestrator/returnfeeds.py) -----------------------------------------------
TalkTargets = Annotated[list[str] | Literal["all"], Field(description="the studios who hear it, or all")]


class Talking(Answer):
    operator: str
    targets: TalkTargets


class TalkAndListen(Answer):
    """The show's return feeds and talkbacks."""

    returns: int = Field(description="hosts' return feeds open")
    returns_connected: int
    returns_total: int = Field(description="return feeds opened since the show started on this node")
    return_studios: list[str]
    talkbacks: int = Field(description="operator microphones connected")
    talkbacks_open: int = Field(description="of those, talking now")
    talkbacks_total: int
    talking: list[Talking]
    picture: Object = Field(description="the shared return picture encode")
    audio: Object | None = Field(description="the return sound's Opus thread (null while no host listens)")
    feeds: list[Object]
    talkback_sessions: list[Object]
    at: float


class TalkKeyed(Answer):
    """An operator's talkback after a press or a release."""

    id: str
    operator: str
    on: bool
    targets: TalkTargets
    state: str


class TalkClosed(Answer):
    id: str
    state: Literal["closed"]
