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


@dataclass(frozen=True)
class SessionMessage:
    """A message about one session; ``session_id`` is the main process's name for it (its Location).

    The kinds without fields of their own are plain subclasses (same fields, own type).
    """

    session_id: str


# -- main -> worker ----------------------------------------------------------------------
@dataclass(frozen=True)
class Open(SessionMessage):
    """Answer ``offer`` (SDP) in a new session; the Reply's value is the answer."""

    show_id: str
    studio_id: str
    offer: str
    options: WhipOptions
    slots: str  # name of the session's FrameSlots segment
    client: str = ""
    decode_level: str = "full"
    req: int = 0  # set by the sender (IngestWorker.request)


@dataclass(frozen=True)
class AddCandidates(SessionMessage):
    """Trickled candidates (RFC 9725 4.3.2); the Reply's value is how many were taken."""

    frag: SdpFrag
    req: int = 0


class Close(SessionMessage):
    """End the session (its WHIP DELETE)."""


class RequestKeyframe(SessionMessage):
    """Ask the studio for a keyframe now."""


@dataclass(frozen=True)
class SetDecodeLevel(SessionMessage):
    """How fully to decode the session's video: "full" (program, preview) or "standby"."""

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
class VideoReady(SessionMessage):
    """A decoded picture waits in frame slot ``slot``, written as ``seq`` (rooms/frameslots.py)."""

    slot: int
    seq: int


@dataclass(frozen=True)
class Audio(SessionMessage):
    """One decoded audio frame."""

    samples: bytes  # packed, as av.AudioFrame.to_ndarray() gives them
    format: str
    layout: str
    sample_rate: int  # Hz
    pts: int | None
    time_base: tuple[int, int]


class Delivering(SessionMessage):
    """Video arrives but is not decoded (decode level "standby"): the studio still delivers."""


@dataclass(frozen=True)
class Presence(SessionMessage):
    """The session's media started (``online``) or stopped arriving."""

    online: bool


@dataclass(frozen=True)
class Stats(SessionMessage):
    """The session's state and statistics (``WhipSession.stats()``), each second."""

    state: str
    stats: dict[str, object] = field(default_factory=dict)


class Closed(SessionMessage):
    """The session has ended."""
