"""What the main process and an ingest worker say to each other over their pipe.

Main -> worker: the signalling the WHIP handlers forward (``Open``, ``AddCandidates``,
``Close``) and control (``RequestKeyframe``, ``SetDecodeLevel``, ``Stop``). Requests carry a
number ``req`` and get one ``Reply``. Worker -> main: ``Reply``, a decoded picture waiting
in the session's frame slots (``VideoReady``), an audio frame (``Audio``: 20 ms of Opus
decoded is ~4 KB, small enough for the pipe), video received but not decoded (``Delivering``),
presence changes, stats and the end of a session. Every message is a small picklable
dataclass; pixels never go through the pipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rooms.sdp import SdpFrag
from rooms.sessionspec import WhipOptions


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker process needs from the config before its first session (rooms/compat)."""

    ice_hosts: tuple[str, ...] = ()
    ice_port_min: int = 0
    ice_port_max: int = 0
    log_level: int = 30


# -- main -> worker ----------------------------------------------------------------------
@dataclass(frozen=True)
class Open:
    req: int
    session_id: str
    show_id: str
    studio_id: str
    offer: str
    options: WhipOptions
    slots: str  # name of the session's FrameSlots segment
    client: str = ""
    decode_level: str = "full"


@dataclass(frozen=True)
class AddCandidates:
    req: int
    session_id: str
    frag: SdpFrag


@dataclass(frozen=True)
class Close:
    session_id: str


@dataclass(frozen=True)
class RequestKeyframe:
    session_id: str


@dataclass(frozen=True)
class SetDecodeLevel:
    """How fully to decode the session's video: "full" (program, preview) or "standby"."""

    session_id: str
    level: str


@dataclass(frozen=True)
class Stop:
    """Close every session and exit."""


# -- worker -> main ----------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    """The answer to request ``req``: ``value`` or an error of ``error_kind`` with its message."""

    req: int
    value: object = None
    error: str = ""
    error_kind: Literal["", "sdp", "ice_restart", "other"] = ""


@dataclass(frozen=True)
class VideoReady:
    session_id: str
    slot: int
    seq: int


@dataclass(frozen=True)
class Audio:
    session_id: str
    samples: bytes  # packed, as av.AudioFrame.to_ndarray() gives them
    format: str
    layout: str
    sample_rate: int
    pts: int | None
    time_base: tuple[int, int]


@dataclass(frozen=True)
class Delivering:
    """Video arrives but is not decoded (decode level "standby"): the studio still delivers."""

    session_id: str


@dataclass(frozen=True)
class Presence:
    session_id: str
    online: bool


@dataclass(frozen=True)
class Stats:
    session_id: str
    state: str
    stats: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Closed:
    session_id: str
