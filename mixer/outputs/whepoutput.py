"""WHEP egress: the program to WebRTC viewers, from the shared encode, never re-encoded.

Threads: :meth:`WhepOutput.put` runs in the encoder thread and posts each
packet to the event loop (one ``call_soon_threadsafe``); the fan-out to the
viewers' tracks, and everything aiortc does, happens on the loop.  The encoder
feeds this sink H.264 and *Opus* (``audio_codec``), and encodes Opus only while
there is at least one viewer (``idle``).

Keyframes: a new viewer, a viewer that fell behind, and every PLI/FIR go to
``request_keyframe`` (the show's encoder), which forces at most one keyframe
per 500 ms; between those, viewers wait for the next keyframe (at most the
1 s GOP).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aiortc import RTCIceServer

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.flvmuxer import NAL_SPS, nal_type, split_annexb
from mixer.outputs.ratemeter import RateMeter
from mixer.outputs.sink import Sink
from mixer.outputs.webrtccodecs import DEFAULT_PROFILE_LEVEL_ID, H264_HIGH, profile_level_id, register_h264_high
from mixer.outputs.whepviewer import OfferError, WhepViewer

log = logging.getLogger(__name__)


class WhepFull(Exception):
    """No room for another viewer (or the output is closed)."""


class WhepOutput(Sink):
    name = "whep"
    audio_codec = "opus"

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        show_id: str,
        request_keyframe: Callable[[], None],
        *,
        max_viewers: int = 500,
        queue_seconds: float = 0.5,
        ice_servers: list[RTCIceServer] | None = None,
    ) -> None:
        register_h264_high()
        self.loop = loop
        self.show_id = show_id
        self._request_keyframe = request_keyframe
        self.max_viewers = max_viewers
        self.queue_seconds = queue_seconds
        self.ice_servers = list(ice_servers or [])
        self._viewers: dict[str, WhepViewer] = {}
        self._pending = 0
        self._closed = False
        self._fmt: ProgramFormat | None = None
        self.profile_level_id = DEFAULT_PROFILE_LEVEL_ID
        self.meter = RateMeter()
        self.viewers_total = 0
        self.refused = 0
        self.keyframe_requests = 0
        self.started_at = time.time()

    # --- encoder thread ---------------------------------------------------------

    @property
    def idle(self) -> bool:
        return not self._viewers

    def start(self, fmt: ProgramFormat) -> None:
        self._fmt = fmt

    def put(self, packet: EncodedPacket) -> None:
        video = packet.kind == "video"
        if video and packet.keyframe:
            self._note_sps(packet)  # also with no viewer: the first answer must name the level
        if not self._viewers or self._closed:
            return
        self.meter.add(len(packet.data), int(video))
        with contextlib.suppress(RuntimeError):  # loop closed: the server is going down
            self.loop.call_soon_threadsafe(self._deliver, packet)

    def _note_sps(self, packet: EncodedPacket) -> None:
        for nal in split_annexb(packet.data):
            if nal_type(nal) == NAL_SPS:
                plid = profile_level_id(nal)
                if plid != self.profile_level_id:
                    if nal[1] != H264_HIGH:
                        log.error("whep %s: encoder profile %d is not High; answers say High", self.show_id, nal[1])
                    self.profile_level_id = plid
                return

    def close(self) -> None:
        """Any thread: refuse new viewers and hang up on the current ones."""
        if self._closed:
            return
        self._closed = True
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        try:
            if running is self.loop:
                asyncio.ensure_future(self.aclose())
            else:
                self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self.aclose()))
        except RuntimeError:
            pass

    # --- event loop -----------------------------------------------------------

    def _deliver(self, packet: EncodedPacket) -> None:
        audio = packet.kind == "audio"
        for viewer in list(self._viewers.values()):
            viewer.push(packet, audio)

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        self._request_keyframe()

    async def add_viewer(self, offer_sdp: str) -> WhepViewer:
        """Answer a viewer's offer; raises :class:`OfferError` or :class:`WhepFull`."""
        if self._closed:
            raise WhepFull("this output is closed")
        if len(self._viewers) + self._pending >= self.max_viewers:
            self.refused += 1
            raise WhepFull(f"viewer limit reached ({self.max_viewers})")
        fps = self._fmt.fps if self._fmt else 30
        viewer = WhepViewer(
            self.show_id,
            self.request_keyframe,
            self._viewer_closed,
            video_queue=max(2, round(self.queue_seconds * fps)),
            audio_queue=max(2, round(self.queue_seconds * 50)),  # Opus: 50 packets a second
            ice_servers=self.ice_servers,
        )
        self._pending += 1
        try:
            await viewer.accept(offer_sdp, self.profile_level_id)
        except OfferError:
            self.refused += 1
            raise
        finally:
            self._pending -= 1
        if self._closed:
            await viewer.close()
            raise WhepFull("this output is closed")
        self._viewers[viewer.id] = viewer
        self.viewers_total += 1
        return viewer

    def viewer(self, viewer_id: str) -> WhepViewer | None:
        return self._viewers.get(viewer_id)

    async def _viewer_closed(self, viewer: WhepViewer) -> None:
        self._viewers.pop(viewer.id, None)

    async def aclose(self) -> None:
        self._closed = True
        for viewer in list(self._viewers.values()):
            await viewer.close()

    # --- status -------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        viewers = list(self._viewers.values())
        connected = sum(1 for v in viewers if v.connected_at is not None and v.state == "connected")
        bps, fps = self.meter.rates()
        return {
            "name": self.name,
            "kind": "whep",
            "up": not self._closed,
            "clients": len(viewers),
            "viewers": len(viewers),
            "connected_viewers": connected,
            "viewers_total": self.viewers_total,
            "refused": self.refused,
            "max_viewers": self.max_viewers,
            "h264_profile_level_id": self.profile_level_id,
            "keyframe_requests": self.keyframe_requests,
            "dropped_packets": sum(v.video.dropped + v.audio.dropped for v in viewers),
            "skipped_packets": sum(v.video.skipped for v in viewers),
            "resyncs": sum(v.video.resyncs for v in viewers),
            "egress_bps": round(bps * connected),
            "uptime_s": round(time.time() - self.started_at, 1),
            "errors": self.refused,
            **self.meter.summary(),
            "viewer_list": [v.stats() for v in viewers[:50]],
        }
