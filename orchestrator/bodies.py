"""The operator API's request bodies, as models: validated once at the edge, documented from here.

Each view reads its body with :func:`orchestrator.views.common.body`, which answers a bad one
with 400 and the first problem as ``'key': problem``. The OpenAPI document takes each request
schema from these models (:mod:`orchestrator.openapi`), so the document and the checks cannot
drift. Rules that need the show (is this a studio of it? a price 10x the catalogue's?) stay
with the show's code; everything about the shape and range of a value is here or in
:mod:`orchestrator.fields`.

Every JSON body refuses fields it does not know (``extra="forbid"``: a misspelt field is a 400
naming it, never silently ignored). Query strings (:class:`Query`) ignore parameters they do
not know: proxies and browsers add cache-busters.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from mixer.graphics.director import SLOTS
from mixer.outputs.rtmpoutput import NAME_RE, SCHEMES
from mixer.scene import CORNERS, GAIN_DB_MAX, GAIN_DB_MIN, LAYOUTS, TRANSITIONS
from orchestrator.fields import (
    MAX_PROMO_CHARS,
    Count,
    FallbackPolicy,
    Flag,
    InRange,
    NonEmpty,
    Number,
    OneLine,
    OneOf,
    Price,
    Programs,
    Text,
    TransitionMs,
)

MAX_MESSAGE = 500  # characters in a cue message: it has to fit on a phone
MAX_COUNTDOWN_S = 99 * 60 + 59  # a card's countdown, mm:ss
MAX_LOWER_THIRD_CHARS = 40
LIVE_FIELDS = ("price", "stock", "sold", "promo")  # what PATCH .../products/{id} may change


def _null_is(default: str) -> BeforeValidator:
    """null means the default (as these bodies always allowed); the document shows just the choices."""
    return BeforeValidator(lambda value: default if value is None else value)


Transition = Annotated[Text, OneOf(TRANSITIONS), _null_is("cut"), Field(description="how the picture changes")]
DurationMs = Annotated[
    TransitionMs, Field(description="transition length; null or absent: the show's default (shows[].transition_ms)")
]
StudioId = Annotated[NonEmpty, Field(description="a studio id of the show")]
ProductId = Annotated[NonEmpty, Field(description="a product id of the show")]


class Closed(BaseModel):
    """A body that refuses fields it does not know."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """A query string's parameters; unknown ones are ignored (cache-busters, tracking tags)."""

    model_config = ConfigDict(extra="ignore")


class ProgramBody(Closed):
    """``POST .../cut`` and ``.../preview``: a studio id, or null for the slate (cut) / no preview."""

    studio: Annotated[StudioId, Field(description="a studio id; null: the slate")] | None


class TakeBody(Closed):
    transition: Transition = "cut"
    duration_ms: DurationMs | None = None


class LayoutBody(Closed):
    layout: Annotated[Text, OneOf(LAYOUTS), _null_is("single")]
    studios: Annotated[list[NonEmpty], Field(max_length=2, description="main first")] | None = None
    corner: Annotated[Text, OneOf(CORNERS), Field(description="where the pip inset goes")] | None = None
    transition: Transition = "cut"
    duration_ms: DurationMs | None = None


class PanicBody(Closed):
    on: Flag = True


class FtbBody(Closed):
    """Fade to black (``on``) or back up, over ``duration_ms`` (default: the show's)."""

    on: Flag = True
    duration_ms: DurationMs | None = None


class TbarBody(Closed):
    position: Annotated[Number, InRange(0, 1, "0: program, 1: preview (the take happens there)")]


class EmptyBody(Closed):
    """No fields: a command that needs none (``{}`` or no body)."""


class MoveBody(Closed):
    """``POST .../move``: the node that should run the show."""

    node: Annotated[NonEmpty, Field(description="a node id of the cluster (GET /api/cluster)")]


class FallbackPolicyBody(Closed):
    policy: FallbackPolicy


MAX_TALKBACK_TARGETS = 200


class TalkbackBody(Closed):
    """Talkback on or off, to some studios or all (``targets`` absent, null or "all": every studio)."""

    on: Flag
    targets: (
        Annotated[
            list[StudioId], Field(min_length=1, max_length=MAX_TALKBACK_TARGETS, description="the studios who hear it")
        ]
        | Annotated[Text, OneOf(("all",))]
        | None
    ) = None


class AudioBody(Closed):
    """A studio's gain and/or mute (at least one of them)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    gain_db: Annotated[Number, InRange(GAIN_DB_MIN, GAIN_DB_MAX, "decibels")] | None = None
    mute: Flag | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_empty(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data:
            raise ValueError("body needs 'gain_db' and/or 'mute'")
        return data


class CardBody(Closed):
    product: ProductId
    slot: Annotated[Text, OneOf(SLOTS)] = "main"
    countdown_s: Annotated[Number, InRange(1, MAX_COUNTDOWN_S, "seconds, rounded up")] | None = None
    confirm_price: Flag = False
    preview: Annotated[Flag, Field(description="true: built on preview, on air with the next take")] = False


class ProductPatch(Closed):
    """Live values of a product; null puts a field back to the catalogue value."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    price: Price | None = None
    stock: Count | None = None
    sold: Count | None = None
    promo: Annotated[OneLine, Field(max_length=MAX_PROMO_CHARS)] | None = None
    confirm_price: Flag = False

    def changes(self) -> dict[str, Any]:
        """The live fields the body sets (a null: back to the catalogue value)."""
        return {k: getattr(self, k) for k in LIVE_FIELDS if k in self.model_fields_set}


class LowerThirdBody(Closed):
    studio: StudioId
    text: Annotated[OneLine, Field(max_length=MAX_LOWER_THIRD_CHARS)] | None = None


class OnOffBody(Closed):
    on: Flag


class RtmpBody(Closed):
    name: Annotated[Text, Field(json_schema_extra={"pattern": NAME_RE.pattern})]
    url: Annotated[
        Text,
        Field(
            json_schema_extra={
                "pattern": f"^({'|'.join(SCHEMES)})://[^/\\s]+/[^/\\s]+/[^\\s]+$",
                "examples": ["rtmp://live.example.org/app/stream-key"],
            }
        ),
    ]
    delay_s: Annotated[Number, InRange(0, 60, "seconds of broadcast delay")] = 0.0
    # Which program it pushes (a show with landscape and portrait); empty: the main one.
    program: Annotated[str, OneOf(("", "landscape", "portrait"))] = ""


class DelayBody(Closed):
    """One output's broadcast delay, while live."""

    output: Annotated[NonEmpty, Field(description="hls, flv, whep, webhook or rtmp:{name}")]
    delay_s: Annotated[Number, InRange(0, 60, "seconds")]


class ProgramsBody(Closed):
    """The programs to run from now on, main first (the main one cannot change while live)."""

    programs: Annotated[Programs, Field(description='e.g. ["landscape", "portrait"]')]


class CueBody(Closed):
    product: ProductId | None = None
    message: Annotated[Text, Field(max_length=MAX_MESSAGE)] = ""


class LoginBody(Closed):
    """An operator token, or a name and password."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["token"]}, {"required": ["name", "password"]}]}
    )

    token: NonEmpty | None = None
    name: Text | None = None
    password: Text | None = None


class EventsQuery(Query):
    """``GET .../events?limit=``: query strings are text, so numbers are parsed (not strict)."""

    limit: Annotated[int, InRange(1, 10_000, "events, newest"), Field(strict=False)] = 100


class ProductsQuery(Query):
    q: Annotated[str, Field(description="search in id, names and enterprise")] = ""


class CardBusQuery(Query):
    """``DELETE .../cards/{slot}?bus=``: the card leaves the program (default) or the preview."""

    bus: Annotated[Text, OneOf(("program", "preview"))] = "program"


class RundownBody(Closed):
    studios: Annotated[
        dict[str, Annotated[list[Text], Field(json_schema_extra={"uniqueItems": True})]],
        Field(description="studio id -> product ids, in order"),
    ]
