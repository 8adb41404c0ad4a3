"""WHEP egress: the program to WebRTC viewers, from shared encodes, never one per viewer.

Viewers that decode H.264 High (Chromium, Safari) get the program's own
packets.  The others (Firefox without OpenH264, aiortc, offers with only VP8 or
Constrained Baseline) get a second encode in a codec they offer
(:class:`ViewerEncoder`): one per codec, running only while such a viewer
exists, shared by all of them (like the Opus encode).

The viewers' peer connections and signalling are at the edge
(:mod:`rooms.whepsession`); this sink only hands each attached viewer
(:class:`WhepViewer`) the packets of what it gets.

Threads: :meth:`WhepOutput.put` runs in the encoder thread and posts each
packet to the event loop (one ``call_soon_threadsafe``), and hands video to the
second encodes' own queues; the fan-out to the viewers' tracks, and everything
aiortc does, happens on the loop.  The encoder feeds this sink H.264 and *Opus*
(``audio_codec``), and encodes Opus only while there is at least one viewer
(``idle``).

Keyframes: a new viewer, a viewer that fell behind, and every PLI/FIR go to
the encoder of what that viewer gets (the show's, through
``request_keyframe``, or its second encode), which forces at most one keyframe
per 500 ms; between those, viewers wait for the next keyframe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from functools import partial

from aiortc import RTCIceServer

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.h264 import NAL_SPS, nal_type, split_annexb
from mixer.outputs.ratemeter import RateMeter
from mixer.outputs.sink import Sink
from mixer.outputs.viewercodec import DEFAULT_PROFILE_LEVEL_ID, H264_HIGH, ViewerCodec, h264_level, profile_level_id
from mixer.outputs.viewerencoder import ViewerEncoder
from mixer.outputs.whepviewer import WhepFull, WhepViewer

__all__ = ["WhepFull", "WhepOutput", "WhepViewer"]  # the viewer contract's old home: importers keep working

log = logging.getLogger(__name__)


class WhepOutput(Sink):
    """Hands the program to attached WHEP viewers (module doc): at most ``max_viewers`` at once, each
    queueing ``queue_seconds`` of packets. Viewers are attached and fed on ``loop``; :meth:`put` runs
    in the encoder thread."""

    name = "whep"
    audio_codec = "opus"
    accepts_data = True  # cues go to each viewer's data channel (rooms/whepsession.py)

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
        self.loop = loop
        self.show_id = show_id
        self._request_keyframe = request_keyframe
        self.max_viewers = max_viewers
        self.queue_seconds = queue_seconds
        self.ice_servers = list(ice_servers or [])
        self._viewers: dict[str, WhepViewer] = {}
        # Replaced, never changed in place: the encoder thread reads it without a lock.
        self._encoders: dict[ViewerCodec, ViewerEncoder] = {}
        self._program_viewers = 0  # viewers of the program's own video (read by the encoder thread)
        self._pending = 0
        self._closed = False
        self._fmt: ProgramFormat | None = None
        self.profile_level_id = DEFAULT_PROFILE_LEVEL_ID
        self.meter = RateMeter()
        self.viewers_total = 0
        self.refused = 0
        self.keyframe_requests = 0
        self.encodes_started = 0  # second encodes, over the output's life
        self.started_at = time.time()

    # --- encoder thread ---------------------------------------------------------

    @property
    def idle(self) -> bool:
        return not self._viewers

    def start(self, fmt: ProgramFormat) -> None:
        self._fmt = fmt
        with contextlib.suppress(RuntimeError):  # viewers that came before the first packet
            self.loop.call_soon_threadsafe(self._viewers_changed)

    def put(self, packet: EncodedPacket) -> None:
        video = packet.kind == "video"
        if video and packet.keyframe:
            self._note_sps(packet)  # also with no viewer: the first answer must name the level
        if not self._viewers or self._closed:
            return
        self.meter.add(len(packet.data), int(video))
        if video:
            for encoder in self._encoders.values():
                encoder.put(packet)
            if not self._program_viewers:
                return
        with contextlib.suppress(RuntimeError):  # loop closed: the server is going down
            self.loop.call_soon_threadsafe(self._deliver, packet)

    def _post_encoded(self, codec: ViewerCodec, packet: EncodedPacket) -> None:
        """A second encode's packet (its worker thread) to that codec's viewers."""
        if self._closed:
            return
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._deliver_encoded, codec, packet)

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
        self._stop_encoders(list(self._encoders))
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
        if packet.kind == "data":  # a timed metadata cue: on each viewer's data channel
            for viewer in list(self._viewers.values()):
                viewer.send_cue(packet)
            return
        audio = packet.kind == "audio"
        for viewer in list(self._viewers.values()):
            if audio or viewer.codec is ViewerCodec.PROGRAM:
                viewer.push(packet, audio)

    def _deliver_encoded(self, codec: ViewerCodec, packet: EncodedPacket) -> None:
        for viewer in list(self._viewers.values()):
            if viewer.codec is codec:
                viewer.push(packet, False)

    def request_keyframe(self, codec: ViewerCodec | None = ViewerCodec.PROGRAM) -> None:
        """A viewer of ``codec`` wants a keyframe: from the show's encoder or that codec's second encode."""
        self.keyframe_requests += 1
        encoder = self._encoders.get(codec) if codec is not None else None
        if encoder is not None:
            encoder.request_keyframe()
        elif codec is ViewerCodec.PROGRAM:
            self._request_keyframe()

    def answer_profile_level_id(self, codec: ViewerCodec | None) -> str:
        """The H.264 ``profile-level-id`` an answer for ``codec`` names: what is really sent."""
        if codec is ViewerCodec.H264_CB:
            fmt = self._fmt
            level = h264_level(fmt.width, fmt.height, fmt.fps) if fmt else 31
            return f"42e0{level:02x}"
        return self.profile_level_id

    @property
    def running_codecs(self) -> frozenset[ViewerCodec]:
        """The second encodes running now (a new viewer joins one of these first)."""
        return frozenset(self._encoders)

    def viewer_queues(self) -> tuple[int, int]:
        """(video, audio) packets a viewer's queues hold: ``queue_seconds`` of each."""
        fps = self._fmt.fps if self._fmt else 30
        return max(2, round(self.queue_seconds * fps)), max(2, round(self.queue_seconds * 50))  # Opus: 50/s

    @contextlib.contextmanager
    def admitting(self) -> Iterator[None]:
        """Hold a place for a viewer while it is answered; raises :class:`WhepFull` when there is none."""
        if self._closed:
            raise WhepFull("this output is closed")
        if len(self._viewers) + self._pending >= self.max_viewers:
            self.refused += 1
            raise WhepFull(f"viewer limit reached ({self.max_viewers})")
        self._pending += 1
        try:
            yield
        finally:
            self._pending -= 1

    def attach(self, viewer: WhepViewer) -> None:
        """Start handing ``viewer`` packets; raises :class:`WhepFull` if the output closed meanwhile."""
        if self._closed:
            raise WhepFull("this output is closed")
        self._viewers[viewer.id] = viewer
        self.viewers_total += 1
        self._viewers_changed()

    def detach(self, viewer: WhepViewer) -> None:
        """Stop handing ``viewer`` packets (it closed)."""
        self._viewers.pop(viewer.id, None)
        self._viewers_changed()

    def viewer(self, viewer_id: str) -> WhepViewer | None:
        return self._viewers.get(viewer_id)

    def viewers(self) -> list[WhepViewer]:
        return list(self._viewers.values())

    @property
    def program_format(self) -> ProgramFormat | None:
        """The format of the packets (with the program clock's ``time_origin``), once they flow."""
        return self._fmt

    def _viewers_changed(self) -> None:
        """Start the second encodes that viewers need, stop those nobody watches any more."""
        wanted = {v.codec for v in self._viewers.values()}
        self._program_viewers = sum(1 for v in self._viewers.values() if v.codec is ViewerCodec.PROGRAM)
        stale = [c for c in self._encoders if c not in wanted]
        started: dict[ViewerCodec, ViewerEncoder] = {}
        fmt = self._fmt
        if not self._closed and fmt is not None:
            for codec in wanted:
                if codec is None or codec is ViewerCodec.PROGRAM or codec in self._encoders:
                    continue
                started[codec] = ViewerEncoder(codec, fmt, partial(self._post_encoded, codec), self._request_keyframe)
                self.encodes_started += 1
                log.info("whep %s: %s encode started for its viewers", self.show_id, codec.value)
        if stale or started:
            self._stop_encoders(stale, started)

    def _stop_encoders(
        self, codecs: list[ViewerCodec], started: dict[ViewerCodec, ViewerEncoder] | None = None
    ) -> None:
        encoders = dict(self._encoders)
        for codec in codecs:
            encoder = encoders.pop(codec, None)
            if encoder is not None:
                encoder.stop()
                log.info("whep %s: %s encode stopped (no viewer left)", self.show_id, codec.value)
        encoders.update(started or {})
        self._encoders = encoders  # one assignment: the encoder thread sees the old or the new dict
        for encoder in (started or {}).values():
            encoder.start()

    async def aclose(self) -> None:
        self._closed = True
        for viewer in list(self._viewers.values()):
            await viewer.close()
        self._stop_encoders(list(self._encoders))

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
            "dropped_packets": sum(v.dropped_packets for v in viewers),
            "skipped_packets": sum(v.skipped_packets for v in viewers),
            "resyncs": sum(v.resyncs for v in viewers),
            "egress_bps": round(bps * connected),
            "uptime_s": round(time.time() - self.started_at, 1),
            "errors": self.refused,
            **self.meter.summary(),
            "viewer_list": [v.stats() for v in viewers[:50]],
            "second_encodes": len(self._encoders),
            "encodes": [e.status() for e in self._encoders.values()],
            "encodes_started": self.encodes_started,
        }
