"""What a studio's WHIP session is made from: the answer's settings and the session's spec.

:class:`WhipOptions` are the server's, the same for every studio (from the config);
:class:`SessionSpec` names one session: its show and studio, the feed its pictures and
sound go to, the show's callbacks and how fully it decodes at first. The same spec makes
a session in this process (:class:`~rooms.whipsession.WhipSession`) or in an ingest worker
(:class:`~rooms.remotesession.RemoteSession`, through :meth:`~rooms.ingestpool.IngestPool.session`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiortc import RTCIceServer

from mixer.feedbuffer import FeedBuffer
from rooms.decodepolicy import FULL
from rooms.liveness import LivenessOptions


@dataclass(frozen=True)
class WhipOptions:
    """How the server answers: codec choice, ICE servers, address announcement, bitrate hints
    (kbit/s), the stats sampling interval (s), and how long a session may take to start its
    media or go without (rooms/liveness.py)."""

    video_codec: str = "h264"
    ice_servers: tuple[RTCIceServer, ...] = ()
    public_address: str = ""
    start_kbps: int = 1500
    min_kbps: int = 600
    stats_interval: float = 1.0
    liveness: LivenessOptions = LivenessOptions()


Session = TypeVar("Session", contravariant=True)  # what the callbacks are called with


@dataclass(frozen=True)
class SessionSpec(Generic[Session]):
    """One studio session: who it is, where its media goes, whom it tells.

    ``on_closed(session)`` is awaited once when the session has ended; ``on_presence(session,
    online)`` when its media starts or stops arriving. ``Session`` is what the callbacks take:
    ``WhipSession``, ``RemoteSession``, or either (``StudioSession``) for a spec that may make
    the one or the other. ``client``: the join page that published (to tell it apart from a
    second tab). ``decode_level``: ``full`` or ``standby`` (rooms/decodepolicy.py; ValueError
    from the session for another).
    """

    show_id: str
    studio_id: str
    feed: FeedBuffer
    on_closed: Callable[[Session], Awaitable[None]]
    options: WhipOptions = WhipOptions()
    client: str = ""
    on_presence: Callable[[Session, bool], Awaitable[None]] | None = None
    decode_level: str = FULL
