"""aioice's internals: the patches, each pinned (rooms/compat/pins.py), applied once at start.

Where our ICE agent listens (which local addresses it offers, on which UDP ports, with
how much receive buffer), and how a connection's consent is kept (RFC 7675) and its media
arrival noted.  The
patches are installed by :func:`install`; :func:`offer_host_addresses` and
:func:`use_port_range` only change the settings the installed patches read, so the
config decides them at start and a test may change them later.  The settings are
process-wide because aioice reads them from module-level code.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import logging
import random
import socket
import time
from collections.abc import Iterable
from typing import Any

import aioice.ice
import aioice.stun
import aioice.turn
from aiortc.rtcicetransport import RTCIceTransport

from rooms.compat.pins import Pins

log = logging.getLogger(__name__)

# -- host addresses ----------------------------------------------------------------------
# aioice enumerates interfaces itself (``aioice.ice.get_host_addresses``) and always leaves
# out 127.0.0.1, so a server that must be reachable on loopback (tests, a same-host relay)
# or only on chosen interfaces has to say so.
# Removed by: an aioice ``Connection`` parameter for the local addresses to gather on.

_original = aioice.ice.get_host_addresses
_chosen_addresses: list[str] = []


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if not _chosen_addresses:
        return _original(use_ipv4, use_ipv6)
    return [a for a in _chosen_addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


def offer_host_addresses(addresses: tuple[str, ...] | list[str]) -> None:
    """Offer exactly ``addresses``; an empty list restores aioice's own choice."""
    global _chosen_addresses
    _chosen_addresses = list(addresses)


# -- UDP port range ----------------------------------------------------------------------
# aioice binds each host candidate with ``loop.create_datagram_endpoint(local_addr=(addr, 0))``
# inside ``Connection.get_component_candidates``. To keep media inside a firewall's range
# we wrap exactly that method: while it runs (a context variable, so other tasks and other
# sockets are untouched) a port-0 bind on the running loop is retried over the range.
# Removed by: aioice's open change "Optionally restrict the range of ephemeral ports"
# (aiortc/aioice pull request 63, for its issue 47), once released: pass the range to
# ``Connection`` (through aiortc's ``RTCIceGatherer``) instead.

_PORT_RANGE: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar("ice_port_range", default=None)
_configured_range: tuple[int, int] | None = None
_original_gather = aioice.ice.Connection.get_component_candidates
_next_port = 0


async def _bind_in_range(original: Any, factory: Any, local_addr: Any = None, **kwargs: Any) -> Any:
    span = _PORT_RANGE.get()
    if span is None or local_addr is None or local_addr[1] != 0:
        return await original(factory, local_addr=local_addr, **kwargs)
    global _next_port
    low, high = span
    count = high - low + 1
    for i in range(count):
        # Round robin from where the last bind ended: a port just freed is not reused at once.
        port = low + (_next_port + i) % count
        try:
            result = await original(factory, local_addr=(local_addr[0], port), **kwargs)
        except OSError as exc:
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
            continue
        _next_port = (port - low + 1) % count
        return result
    raise OSError(errno.EADDRINUSE, f"no free UDP port in {low}-{high}")


def _patch_loop(loop: asyncio.AbstractEventLoop) -> None:
    if getattr(loop, "_ice_port_range_patched", False):
        return
    original = loop.create_datagram_endpoint

    async def create_datagram_endpoint(factory: Any, local_addr: Any = None, **kwargs: Any) -> Any:
        return await _bind_in_range(original, factory, local_addr, **kwargs)

    loop.create_datagram_endpoint = create_datagram_endpoint  # type: ignore[method-assign,assignment]
    loop._ice_port_range_patched = True  # type: ignore[attr-defined]


async def _gather_in_range(self: aioice.ice.Connection, component: int, addresses: list[str], timeout: int = 5) -> Any:
    if _configured_range is None:
        return await _original_gather(self, component, addresses, timeout)
    _patch_loop(asyncio.get_running_loop())
    token = _PORT_RANGE.set(_configured_range)
    try:
        return await _original_gather(self, component, addresses, timeout)
    finally:
        _PORT_RANGE.reset(token)


def use_port_range(low: int, high: int) -> None:
    """Bind media sockets to UDP ports ``low``-``high``; (0, 0) lets the OS choose again."""
    global _configured_range
    _configured_range = (low, high) if low and high else None


# -- socket receive buffers --------------------------------------------------------------
# aioice sizes each host candidate's socket when it binds it, in
# ``Connection.get_component_candidates`` (pinned above), with ``SO_RCVBUF =
# aioice.turn.UDP_SOCKET_BUFFER_SIZE`` (256 KiB) read at bind time: there is no parameter,
# so the module value is the setting (why and how much: rooms/udpsocket.py).
# Removed by: an aioice ``Connection`` parameter for the receive buffer size.


def use_receive_buffer(nbytes: int) -> None:
    """Every ICE socket bound from now on asks for ``nbytes`` bytes of ``SO_RCVBUF``."""
    aioice.turn.UDP_SOCKET_BUFFER_SIZE = nbytes


def ice_sockets(transports: Iterable[Any]) -> list[socket.socket]:
    """The UDP sockets of aiortc ``RTCIceTransport`` objects (their aioice connection's candidates).

    Reads ``RTCIceTransport._connection`` and ``Connection._protocols`` (filled by the pinned
    ``get_component_candidates``); a transport without them gives no socket.
    """
    out = []
    for transport in transports:
        connection = getattr(transport, "_connection", None)
        for protocol in getattr(connection, "_protocols", ()):
            sock = getattr(getattr(protocol, "transport", None), "get_extra_info", lambda _: None)("socket")
            if sock is not None:
                out.append(sock)
    return out


# -- consent freshness ------------------------------------------------------------------
# aioice ends a connection when six consent checks (RFC 7675) in a row go unanswered.
# FFmpeg's WHIP muxer never answers them, so every FFmpeg/OBS-style studio was dropped
# after ~30 s while its media was flowing fine. Here inbound traffic also counts as
# consent: a peer whose packets keep arriving is plainly alive; one that goes silent and
# does not answer checks is dropped as before.
# Removed by: FFmpeg's WHIP muxer answering consent checks (STUN binding requests after ICE
# completes), or an aioice option to count inbound traffic as consent.

CONSENT_INTERVAL_S = 5.0
CONSENT_MISSES = 6
_original_data_received = aioice.ice.Connection.data_received
_original_query_consent = aioice.ice.Connection.query_consent  # replaced by _query_consent


def _data_received(self: aioice.ice.Connection, data: bytes, component: int) -> None:
    now = time.monotonic()
    self._broadcast_last_inbound = now  # type: ignore[attr-defined]
    # RTP, not RTCP (RFC 5761 4: RTCP packet types 192-223 in the second byte); the
    # header is in the clear under SRTP. Media arrival, for the session's liveness.
    if len(data) > 1 and data[0] & 0xC0 == 0x80 and not 192 <= data[1] <= 223:
        self._broadcast_last_rtp = now  # type: ignore[attr-defined]
    _original_data_received(self, data, component)


async def _query_consent(self: aioice.ice.Connection) -> None:
    assert self.remote_password is not None
    key = self.remote_password.encode("utf8")
    misses = 0
    while True:
        await asyncio.sleep(CONSENT_INTERVAL_S * random.uniform(0.8, 1.2))
        for pair in list(self._nominated.values()):
            try:
                request = self.build_request(pair, nominate=False)
                await pair.protocol.request(request, pair.remote_addr, integrity_key=key, retransmissions=0)
                misses = 0
            except aioice.stun.TransactionError:
                last = getattr(self, "_broadcast_last_inbound", 0.0)
                misses = 0 if time.monotonic() - last < 2 * CONSENT_INTERVAL_S else misses + 1
        if misses >= CONSENT_MISSES:
            log.info("ICE: no answer to consent checks and no traffic for %.0f s: closing", misses * CONSENT_INTERVAL_S)
            self._query_consent_task = None
            await self.close()
            return


def last_media_arrival(transports: list[Any]) -> float | None:
    """``time.monotonic()`` of the newest RTP packet on these aiortc ICE transports, if any.

    ``transports`` are aiortc ``RTCIceTransport`` objects (their private ``_connection`` is
    the aioice ``Connection``); needs :func:`install`.
    """
    arrivals = [getattr(getattr(t, "_connection", None), "_broadcast_last_rtp", None) for t in transports]
    return max((a for a in arrivals if a is not None), default=None)


PINNED: Pins = {
    "get_host_addresses": (_original, "d4a54f9a68c39ff1"),
    # also where UDP_SOCKET_BUFFER_SIZE is read and Connection._protocols filled
    "Connection.get_component_candidates": (_original_gather, "118597a9fcb703f9"),
    "Connection.data_received": (_original_data_received, "5631b17fab717d6b"),
    "Connection.query_consent": (_original_query_consent, "fe49173a650a378a"),
    # last_media_arrival reads aiortc's RTCIceTransport._connection, set here
    "RTCIceTransport.__init__": (RTCIceTransport.__init__, "b11403aba1c3a32b"),
}


def install() -> None:
    """The aioice patches, process-wide; idempotent.  Settings: :func:`offer_host_addresses`, :func:`use_port_range`."""
    aioice.ice.get_host_addresses = _get_host_addresses
    aioice.ice.Connection.get_component_candidates = _gather_in_range  # type: ignore[method-assign]
    aioice.ice.Connection.data_received = _data_received  # type: ignore[method-assign]
    aioice.ice.Connection.query_consent = _query_consent  # type: ignore[method-assign]
