"""A seeded, user-space network impairment for WebRTC tests and benchmarks (this kernel has no netem).

It sits at the server's end of a studio's ICE connection: every UDP datagram the
server's aioice sockets receive or send for that session goes through an
``Impairment`` per direction, which drops it (random loss, Gilbert-Elliott burst
loss, a bandwidth cap's full queue, an outage) or delivers it later (delay,
jitter, which reorders). Because it is on the server's sockets, it works the same
whichever publisher is on the other end: aiortc, FFmpeg's WHIP muxer, Chromium.
The same seed gives the same decisions for the same packet sequence.

    impair = NetImpair(seed=7, up=Profile(loss=0.05, only="video"))
    impair.attach(session)          # a rooms.whipsession.WhipSession, after its answer
    impair.outage = True            # at runtime: nothing gets through either way
    impair.up.stats                 # {"packets": .., "dropped": .., ...}

``up`` is publisher -> server (what the studio sends), ``down`` server -> publisher
(RTCP feedback: NACK, PLI, receiver reports).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# What a datagram is, from its first bytes (RFC 7983 5; RFC 5761 4 for RTP vs RTCP).
KINDS = ("stun", "dtls", "rtp", "rtcp", "other")


def classify(data: bytes) -> str:
    if not data:
        return "other"
    first = data[0]
    if first < 4:
        return "stun"
    if 20 <= first < 64:
        return "dtls"
    if 128 <= first < 192 and len(data) > 1:
        return "rtcp" if 192 <= data[1] <= 223 else "rtp"
    return "other"


@dataclass
class Profile:
    """What one direction of the network does. Probabilities 0-1, times in ms.

    ``only``: which datagrams are impaired: ``"media"`` (RTP and RTCP), ``"rtp"``,
    ``"video"`` (RTP of the video payload types, retransmissions included), or
    ``"all"`` (ICE and DTLS too). An outage always drops everything.
    """

    loss: float = 0.0  # independent random loss
    burst_enter: float = 0.0  # Gilbert-Elliott: P(good -> bad) per packet
    burst_leave: float = 1.0  # P(bad -> good) per packet; mean burst length 1 / burst_leave
    burst_loss: float = 1.0  # loss in the bad state
    delay_ms: float = 0.0
    jitter_ms: float = 0.0  # uniform +-jitter around delay (clamped at 0): reorders packets
    reorder: bool = True  # False: jitter never changes the order (each packet waits for the previous)
    rate_kbps: float = 0.0  # bandwidth cap (0: none), a drop-tail queue of at most queue_ms
    queue_ms: float = 200.0
    only: str = "media"


class Impairment:
    """One direction: ``decide(data, now)`` returns when to deliver (monotonic s) or None to drop."""

    def __init__(self, profile: Profile, seed: int, video_payload_types: frozenset[int] = frozenset()) -> None:
        self.profile = profile
        self.video_payload_types = video_payload_types
        self._rng = random.Random(seed)
        self._bad = False
        self._next_free = 0.0  # when the capped link is free again
        self._last_delivery = 0.0
        self.outage = False
        self.stats = {"packets": 0, "impaired": 0, "dropped": 0, "dropped_outage": 0, "dropped_queue": 0}

    def applies(self, data: bytes) -> bool:
        kind = classify(data)
        only = self.profile.only
        if only == "all":
            return True
        if only == "media":
            return kind in ("rtp", "rtcp")
        if only == "rtp":
            return kind == "rtp"
        if only == "video":
            return kind == "rtp" and (data[1] & 0x7F) in self.video_payload_types
        raise ValueError(f"unknown Profile.only: {only!r}")

    def decide(self, data: bytes, now: float) -> float | None:
        self.stats["packets"] += 1
        if self.outage:
            self.stats["dropped_outage"] += 1
            return None
        if not self.applies(data):
            return now
        p = self.profile
        self.stats["impaired"] += 1
        rng = self._rng
        # Draw every random number for every packet, so one setting does not shift another's sequence.
        r_loss, r_state, r_burst, r_jitter = rng.random(), rng.random(), rng.random(), rng.random()
        if self._bad:
            self._bad = r_state >= p.burst_leave
        else:
            self._bad = r_state < p.burst_enter
        if r_loss < p.loss or (self._bad and r_burst < p.burst_loss):
            self.stats["dropped"] += 1
            return None
        at = now
        if p.rate_kbps > 0:
            start = max(now, self._next_free)
            if start - now > p.queue_ms / 1000:
                self.stats["dropped_queue"] += 1
                return None
            self._next_free = start + len(data) * 8 / (p.rate_kbps * 1000)
            at = self._next_free
        delay = p.delay_ms + (2 * r_jitter - 1) * p.jitter_ms
        at += max(delay, 0.0) / 1000
        if not p.reorder:
            at = max(at, self._last_delivery)
        self._last_delivery = max(self._last_delivery, at)
        return at


class NetImpair:
    """Both directions of one or more server-side ICE connections, seeded by ``seed``."""

    def __init__(self, seed: int, up: Profile | None = None, down: Profile | None = None) -> None:
        self.seed = seed
        self.up = Impairment(up or Profile(), seed)
        self.down = Impairment(down or Profile(), seed + 1_000_003)
        self._attached: set[int] = set()

    @property
    def outage(self) -> bool:
        return self.up.outage

    @outage.setter
    def outage(self, on: bool) -> None:
        self.up.outage = self.down.outage = on

    def attach(self, session: Any) -> None:
        """Impair a ``WhipSession``'s ICE sockets (call once its answer is made)."""
        video_pts: set[int] = set()
        connections = []
        for transceiver in session.pc.getTransceivers():
            if transceiver.kind == "video":
                video_pts |= {c.payloadType for c in getattr(transceiver, "_codecs", [])}
            connections.append(transceiver.receiver.transport.transport._connection)
        self.up.video_payload_types = self.down.video_payload_types = frozenset(video_pts)
        for connection in connections:
            self.attach_connection(connection)

    def attach_connection(self, connection: Any) -> None:
        """Impair every socket of an aioice ``Connection``."""
        if id(connection) in self._attached:
            return
        self._attached.add(id(connection))
        loop = asyncio.get_running_loop()
        for protocol in list(connection._protocols):
            self._wrap(protocol, loop)

    def _wrap(self, protocol: Any, loop: asyncio.AbstractEventLoop) -> None:
        receive: Callable[[bytes, Any], None] = protocol.datagram_received
        transport = protocol.transport
        send: Callable[..., None] = transport.sendto

        def datagram_received(data: bytes, addr: Any) -> None:
            now = time.monotonic()
            at = self.up.decide(data, now)
            if at is None:
                return
            if at <= now:
                receive(data, addr)
            else:
                loop.call_at(loop.time() + (at - now), _deliver, receive, data, addr)

        def sendto(data: bytes, addr: Any = None) -> None:
            now = time.monotonic()
            at = self.down.decide(data, now)
            if at is None:
                return
            if at <= now:
                _send(send, transport, data, addr)
            else:
                loop.call_at(loop.time() + (at - now), _send, send, transport, data, addr)

        protocol.datagram_received = datagram_received
        transport.sendto = sendto


def _deliver(receive: Callable[[bytes, Any], None], data: bytes, addr: Any) -> None:
    receive(data, addr)


def _send(send: Callable[..., None], transport: Any, data: bytes, addr: Any) -> None:
    if not transport.is_closing():
        send(data, addr)
