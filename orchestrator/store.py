"""Show state behind one interface, so memory and Redis are interchangeable.

Every command reads and writes through :class:`StateStore`; the media plane
only ever sees the result (a :class:`mixer.program.Scene`).

Every write is a compare-and-set on ``version``, and a store never goes backwards
unnoticed: a writer passes the last state it knows (``known``); if the stored state is
older (a lower version, or gone: Redis restarted empty or from an old snapshot), the
known state is put back first and the change applied on top of it
(:attr:`Commit.replaced` then holds the stale state found, for the caller to log and audit).
"""

from __future__ import annotations

import abc
import dataclasses
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

from pydantic import ConfigDict, Field
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from mixer.outputs.rtmpoutput import redact
from mixer.scene import CORNERS, LAYOUTS, TRANSITIONS
from orchestrator.fields import OneOf

# The OpenAPI document takes ShowState's and Event's schemas from these dataclasses
# (orchestrator/openapi.py): every field is always in an answer, so every field is required there.
SCHEMA = ConfigDict(json_schema_serialization_defaults_required=True)

Change = Callable[["ShowState"], "ShowState"]


class Cue(TypedDict):
    """The crew's cue for a studio's host (a value of :attr:`ShowState.cues`)."""

    product: str | None  # a product id of the show
    message: str
    at: Annotated[float, Field(description="unix time, seconds")]


def _cue(data: dict[str, Any]) -> Cue:
    return Cue(product=data.get("product"), message=str(data.get("message", "")), at=float(data.get("at", 0)))


@dataclass(frozen=True)
class ShowState:
    """The show's stored state, as the store keeps it (``to_json``: the stored and API form)."""

    __pydantic_config__ = SCHEMA

    show: str
    program: str | None = None
    preview: str | None = None
    online: tuple[str, ...] = ()
    version: int = 0
    # studio id -> the crew's cue for its host: {"product": id or None, "message": str, "at": unix time}
    cues: dict[str, Cue] = field(default_factory=dict)
    # Graphics on air (orchestrator/catalogue/): slot -> {"product", "price", "was_price",
    # "shown_at", "countdown_until", "actor"}; product id -> live overrides {"price", "stock", "sold", "promo"};
    # the lower third {"studio", "text"} or None; the show logo on or off.
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    product_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    lower_third: dict[str, Any] | None = None
    logo: bool = False
    # The mixer (mixer/scene.py): the program's layout (program = its main studio, layout_studios
    # the others), the last take's transition (a new take_seq runs it), panic, per-studio audio.
    layout: Annotated[str, OneOf(LAYOUTS)] = "single"
    layout_studios: tuple[str, ...] = ()
    corner: Annotated[str, OneOf(CORNERS)] = "bottom-right"
    take_seq: int = 0
    transition: Annotated[str, OneOf(TRANSITIONS)] = "cut"
    transition_ms: int = 0  # milliseconds
    panic: bool = False
    # The preview bus: preview is its main studio, these the others (built there, taken to air).
    preview_layout: str = "single"
    preview_studios: tuple[str, ...] = ()
    preview_corner: str = "bottom-right"
    # Cards built on preview: slot -> {"product", "countdown_s", "actor"}; on air with the next take.
    preview_cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    ftb: bool = False  # faded to black (a take with a fade runs it)
    tbar: float = 0.0  # manual transition position 0-1 from program to preview
    gains_db: dict[str, float] = field(default_factory=dict)
    muted: tuple[str, ...] = ()
    fallback_policy: str = ""  # "auto"/"manual" set by the crew; "" = the show's config (mixer/fallback.py)
    # studio id -> generation of its join link; reissue/kick bump it and older tokens stop working
    link_gens: Annotated[
        dict[str, int], Field(description="studio id -> join link generation (raised by kick and reissue)")
    ] = field(default_factory=dict)
    # Outputs the crew changed live; None = as the config says (never changed through the API).
    # rtmp: destination name -> URL (with its stream key: never put this in an API answer as is).
    rtmp: Annotated[
        dict[str, str] | None,
        Field(description="RTMP destination name -> URL (stream key hidden in answers); null: as configured"),
    ] = None
    recording: Annotated[bool | None, Field(description="recording on; null: as configured")] = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShowState:
        return cls(
            show=data["show"],
            program=data.get("program"),
            preview=data.get("preview"),
            online=tuple(data.get("online", ())),
            version=int(data.get("version", 0)),
            cues={
                str(k): Cue(product=v.get("product"), message=str(v.get("message", "")), at=float(v.get("at", 0)))
                for k, v in (data.get("cues") or {}).items()
            },
            cards={str(k): dict(v) for k, v in (data.get("cards") or {}).items()},
            product_overrides={str(k): dict(v) for k, v in (data.get("product_overrides") or {}).items()},
            lower_third=dict(data["lower_third"]) if data.get("lower_third") else None,
            logo=bool(data.get("logo", False)),
            layout=str(data.get("layout") or "single"),
            layout_studios=tuple(data.get("layout_studios") or ()),
            corner=str(data.get("corner") or "bottom-right"),
            take_seq=int(data.get("take_seq", 0)),
            transition=str(data.get("transition") or "cut"),
            transition_ms=int(data.get("transition_ms", 0)),
            panic=bool(data.get("panic", False)),
            preview_layout=str(data.get("preview_layout") or "single"),
            preview_studios=tuple(data.get("preview_studios") or ()),
            preview_corner=str(data.get("preview_corner") or "bottom-right"),
            preview_cards={str(k): dict(v) for k, v in (data.get("preview_cards") or {}).items()},
            ftb=bool(data.get("ftb", False)),
            tbar=float(data.get("tbar", 0.0)),
            gains_db={str(k): float(v) for k, v in (data.get("gains_db") or {}).items()},
            muted=tuple(data.get("muted") or ()),
            fallback_policy=str(data.get("fallback_policy") or ""),
            link_gens={str(k): int(v) for k, v in (data.get("link_gens") or {}).items()},
            rtmp=None if data.get("rtmp") is None else {str(k): str(v) for k, v in data["rtmp"].items()},
            recording=None if data.get("recording") is None else bool(data["recording"]),
        )

    def view_json(self) -> dict[str, Any]:
        """:meth:`to_json` for API answers: RTMP stream keys hidden."""
        data = self.to_json()
        if self.rtmp is not None:
            data["rtmp"] = {name: redact(url) for name, url in self.rtmp.items()}
        return data


def restored(known: ShowState, stale: ShowState) -> ShowState:
    """``known`` put back over an older stored ``stale`` state: link generations never go down,
    so a join link revoked in either is still refused."""
    gens = dict(known.link_gens)
    for studio, gen in stale.link_gens.items():
        gens[studio] = max(gen, gens.get(studio, 0))
    return dataclasses.replace(known, link_gens=gens)


@dataclass(frozen=True)
class Commit:
    """What :meth:`StateStore.commit` stored: ``state``; ``replaced`` is the stale stored state
    that was found older than the writer's known one and overwritten (None normally)."""

    state: ShowState
    replaced: ShowState | None = None


def next_state(stored: ShowState, change: Change, known: ShowState | None) -> Commit:
    """The compare-and-set rule every store applies inside its atomic update."""
    base, replaced = stored, None
    if known is not None and known.version > stored.version:
        base, replaced = restored(known, stored), stored
    new = dataclasses.replace(change(base), version=base.version + 1)
    return Commit(new, replaced)


@dataclass(frozen=True)
class Event:
    """One line of the audit trail: what happened, to what, who did it."""

    __pydantic_config__ = SCHEMA

    kind: Annotated[str, Field(examples=["program.cut", "card.shown", "audio.set"])]
    show: str
    actor: str = "system"
    detail: dict[str, Any] = field(default_factory=dict)
    at: Annotated[float, Field(description="unix time, seconds")] = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# How many of the newest events a new one is compared with, so a retried write is not doubled.
DEDUPE_WINDOW = 32


class StoreUnavailable(Exception):
    """The store cannot be reached or did not answer within its timeout.

    The operation most likely did not happen; only a connection lost during an
    update's commit leaves it unknown (the new state is then visible through ``get``).
    """


class Fenced(StoreUnavailable):
    """This node no longer owns the show (its lease's fencing token is stale): nothing was
    written, and nothing will be (orchestrator/showlease.py)."""


class StoreOutcomeUnknown(StoreUnavailable):
    """The connection failed after a write was sent and the store could not be asked whether it
    was stored. If it was, ``attempted`` (the state written) shows up through ``get`` (and a
    watcher) once the store is back."""

    def __init__(self, message: str, attempted: ShowState) -> None:
        super().__init__(message)
        self.attempted = attempted


class StateStore(abc.ABC):
    @abc.abstractmethod
    async def get(self, show: str) -> ShowState: ...

    @abc.abstractmethod
    async def commit(self, show: str, change: Change, known: ShowState | None = None) -> Commit:
        """Apply ``change`` atomically (compare-and-set on ``version``) against the latest state.

        ``known`` is the newest state the caller has seen: a stored state older than it is a
        rollback, and ``known`` is restored before ``change`` applies (see :func:`next_state`).
        Raises whatever ``change`` raises (nothing stored) or :class:`StoreUnavailable`.
        """

    async def update(self, show: str, change: Change) -> ShowState:
        """Apply ``change`` atomically against the latest state; returns the new state."""
        return (await self.commit(show, change)).state

    @abc.abstractmethod
    async def add_event(self, event: Event) -> None:
        """Append to the show's audit trail. Writing the same event (equal ``to_json``) again
        right after it is a no-op, so a write retried after a lost answer is not doubled."""

    @abc.abstractmethod
    async def events(self, show: str, limit: int = 100) -> list[Event]:
        """Newest last."""

    @abc.abstractmethod
    async def get_doc(self, show: str, name: str) -> Any:
        """A JSON document kept beside the state (imported catalogue, rundown); None if absent.

        Kept apart from ShowState because it is large and changes rarely: the
        state is rewritten on every cut.
        """

    @abc.abstractmethod
    async def put_doc(self, show: str, name: str, value: Any) -> None: ...

    async def close(self) -> None:  # noqa: B027 - optional hook
        pass
