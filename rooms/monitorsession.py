"""A crew monitor's session: a WHEP session that also tells the page which tick it is showing.

The control page's program monitor is a WHEP viewer of the live (undelayed)
program packets (:mod:`orchestrator.crewmonitor`).  To show an honest
glass-to-glass delay, the page must know when the program clock composed the
frame it is displaying.  The page opens a data channel in its offer; on it this
viewer sends, about once a second, one JSON text message::

    {"type": "monitor.clock", "rtp": R, "rtp_hz": 90000, "tick_ms": T, "server_ms": S}

``R`` is the RTP timestamp (32 bits) that this viewer's video sender gave a recent
frame, ``T`` the UNIX time in ms of the tick that composed that frame
(``ProgramFormat.time_origin + pts``) and ``S`` the server's clock when sent.  A
frame with RTP timestamp ``r`` was composed at ``T + int32(r - R) / 90``
(ms).  The page reads ``r`` of the frame on screen
(``requestVideoFrameCallback``'s ``rtpTimestamp``) and its display time, and
corrects for the offset between its clock and ours with pings: the page sends
``{"type": "ping", "t": page_ms}`` and gets ``{"type": "pong", "t": page_ms,
"server_ms": S}`` back (offset from the reply with the shortest round trip, NTP's
rule; its error is at most half that round trip).

What is measured: program clock tick (composition) -> the page's display of that
frame, so compose, the encoder queue, the encode, the send queue, the network,
the browser's jitter buffer, decode and render.  Not the studio's camera to the
program (the studio's own link and the mixer's lip-sync buffer, about 0.1-0.2 s
on loopback): the studio page is not ours to timestamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCDataChannel
from aiortc.mediastreams import VIDEO_TIME_BASE, convert_timebase

from mixer.encodedpacket import ProgramFormat
from rooms.compat import sent_rtp_timestamp
from rooms.whepsession import WhepSession

CLOCK_EVERY_S = 1.0
MAX_MESSAGE = 256  # bytes: a ping is ~40


class MonitorSession(WhepSession):
    def __init__(self, *args: Any, program_format: Callable[[], ProgramFormat | None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._program_format = program_format
        self._rtp_origin: int | None = None  # aiortc's random timestamp origin, once learnt
        self._clock: asyncio.Task[None] | None = None
        self.clock_messages = 0
        self.pings = 0
        self.pc.on("datachannel", self._listen)

    async def accept(self, offer_sdp: str, h264_profile_level_id: str) -> str:
        answer = await super().accept(offer_sdp, h264_profile_level_id)
        self._clock = asyncio.ensure_future(self._send_clock())
        return answer

    def _listen(self, channel: RTCDataChannel) -> None:
        channel.on("message", lambda message: self._on_message(channel, message))

    def _on_message(self, channel: RTCDataChannel, message: object) -> None:
        """Answer a ping; anything else (or malformed) is ignored: the page is the only sender."""
        if not isinstance(message, str) or len(message) > MAX_MESSAGE:
            return
        try:
            body = json.loads(message)
        except ValueError:
            return
        if not isinstance(body, dict) or body.get("type") != "ping" or not isinstance(body.get("t"), int | float):
            return
        self.pings += 1
        if channel.readyState == "open":
            channel.send(json.dumps({"type": "pong", "t": body["t"], "server_ms": round(time.time() * 1000, 1)}))

    def clock(self) -> dict[str, object] | None:
        """The clock message for the last frame sent, or None while there is none yet."""
        fmt = self._program_format()
        last = self.video.last
        if fmt is None or fmt.time_origin is None or last is None:
            return None
        pts90k = convert_timebase(last.pts, last.time_base, VIDEO_TIME_BASE)
        if self._rtp_origin is None:
            # Only while the sender waits for the next packet: then the last one is all sent.
            sender = next((s for s in self.pc.getSenders() if s.track is self.video), None)
            if sender is None or not self.video.waiting:
                return None
            self._rtp_origin = (sent_rtp_timestamp(sender) - pts90k) & 0xFFFFFFFF
        return {
            "type": "monitor.clock",
            "rtp": (self._rtp_origin + pts90k) & 0xFFFFFFFF,
            "rtp_hz": 90000,
            "tick_ms": round((fmt.time_origin + float(last.pts * last.time_base)) * 1000, 1),
            "server_ms": round(time.time() * 1000, 1),
        }

    async def _send_clock(self) -> None:
        while self.state != "closed":
            await asyncio.sleep(0.2 if self._rtp_origin is None else CLOCK_EVERY_S)
            message = self.clock()
            if message is None:
                continue
            text = json.dumps(message)
            for channel in self.channels:
                if channel.readyState == "open":
                    channel.send(text)
                    self.clock_messages += 1

    async def close(self) -> None:
        clock = self._clock
        if clock is not None and clock is not asyncio.current_task():
            clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await clock
        await super().close()

    def stats(self) -> dict[str, object]:
        return {**super().stats(), "clock_messages": self.clock_messages, "pings": self.pings}
