"""When a WHIP session's studio counts as online, and when the session is given up on.

A studio is online from the first RTP packet over a connected session (ICE and DTLS:
"connected") for as long as its media arrives: not from the 201, so an offer that never
connects (or connects and sends nothing) never shows online, and not while nothing
arrives, so a dead host is not shown online. Media arrival is read at the ICE socket
(rooms/compat/aioicepatches.py, installed at start): any RTP packet, audio or video; RTCP and STUN do not count.

Timings (seconds; each a ``LivenessOptions`` field, these are the defaults):

- ``CONNECT_TIMEOUT_S``: an answered session with no media by then is closed (a host
  behind a firewall, a client that lost the answer); ICE + DTLS + first packet took
  ~0.1-1.1 s here.
- ``STALL_AFTER_S``: no RTP for this long marks the session "stalled" (the crew sees it;
  the program's own ``fallback_after``, default 1 s, acts on the missing frames meanwhile).
- ``MEDIA_TIMEOUT_S``: no RTP at all for this long and the studio is offline
  (studio.left). A live publisher sends RTP every 20 ms (Opus; every 400 ms at the least
  with DTX) and every 33 ms (30 fps video): 3 s of nothing is a dead or cut-off host, not
  jitter; Wi-Fi roaming and 4G hand-overs (well under 1 s) pass unnoticed. Measured: a
  killed publisher is offline 3.04-3.14 s later (bench/presence.py; it was 37-41 s).
- ``SILENT_CLOSE_S``: the session itself is kept this long without media, so a host whose
  network comes back (an outage, a tunnel) is online again at its next packet with no new
  session: publishers that never re-join by themselves (OBS, FFmpeg, aiortc) survive
  outages up to this long. 30 s is RFC 7675's consent expiry. The join page does not wait:
  disconnected for 3 s, it re-joins with a new session, which replaces this one.

aioice's consent rule (6 checks x 5 s, inbound traffic counting as consent: rooms/compat/aioicepatches.py)
still ends a connection whose peer neither answers nor sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiortc import RTCPeerConnection

from rooms import compat

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15.0
STALL_AFTER_S = 1.0
MEDIA_TIMEOUT_S = 3.0
SILENT_CLOSE_S = 30.0
WATCH_INTERVAL_S = 0.25


@dataclass(frozen=True)
class LivenessOptions:
    """The timings above, in seconds."""

    connect_timeout: float = CONNECT_TIMEOUT_S
    stall_after: float = STALL_AFTER_S
    media_timeout: float = MEDIA_TIMEOUT_S
    silent_close: float = SILENT_CLOSE_S


class Liveness:
    """Watches one peer connection: ``online`` and ``stalled`` as above.

    ``on_presence(online)`` is awaited on every change of ``online``, in order, each call in
    its own task so that a close meanwhile cannot cut a record in half (``settled`` waits for
    the last). ``on_end(reason)`` is called (not awaited) when the session should be closed.
    """

    def __init__(
        self,
        pc: RTCPeerConnection,
        options: LivenessOptions,
        on_presence: Callable[[bool], Awaitable[None]] | None,
        on_end: Callable[[str], None],
        name: str = "",
    ) -> None:
        self._pc = pc
        self._options = options
        self._on_presence = on_presence
        self._on_end = on_end
        self._name = name
        self._announcing: asyncio.Future[None] | None = None
        self.connected = False  # ICE and DTLS up (as last seen)
        self.online = False
        self.stalled = False
        compat.install()  # media arrival is noted by an aioice patch (done at start by the app)

    def _last_media(self) -> float | None:
        return compat.last_media_arrival([t.receiver.transport.transport for t in self._pc.getTransceivers()])

    async def run(self) -> None:
        """The watch: runs until it ends the session (or is cancelled by its close)."""
        opts = self._options
        started = time.monotonic()
        while True:  # connected, and the first RTP packet in: online
            self.connected = self._pc.connectionState == "connected"
            if self.connected and self._last_media() is not None:
                break
            if time.monotonic() - started > opts.connect_timeout:
                how = "no media" if self.connected else f"not connected ({self._pc.connectionState})"
                self._end(f"{how} {opts.connect_timeout:g} s after the answer")
                return
            await asyncio.sleep(WATCH_INTERVAL_S / 5)  # online within ~50 ms of the first packet
        self._announce(True)
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            silence = time.monotonic() - (self._last_media() or started)
            if silence >= opts.silent_close:
                self._end(f"no media for {silence:.1f} s")
                return
            stalled = silence >= opts.stall_after
            if stalled != self.stalled:
                self.stalled = stalled
                log.info("%s: %s", self._name, "media stalled" if stalled else "media back")
            online = silence < opts.media_timeout
            if online != self.online:
                log.info("%s: %s", self._name, "media back: online" if online else "no media: offline")
                self._announce(online)

    def _end(self, reason: str) -> None:
        log.info("%s: ended: %s", self._name, reason)
        self.online = False
        self._on_end(reason)

    def _announce(self, online: bool) -> None:
        self.online = online
        if self._on_presence is None:
            return
        previous, on_presence = self._announcing, self._on_presence

        async def announce() -> None:
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous
            await on_presence(online)

        self._announcing = asyncio.ensure_future(announce())

    async def settled(self) -> None:
        """Once the last presence change has been handed over (errors are its owner's)."""
        self.online = False
        if self._announcing is not None:
            with contextlib.suppress(Exception):
                await self._announcing
