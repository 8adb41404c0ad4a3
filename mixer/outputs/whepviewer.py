"""One WHEP viewer: an aiortc peer connection sending the shared program packets.

The viewer's video is the program's own H.264 High packets, or those of a
shared second encode (VP8 or Constrained Baseline) when it cannot decode High:
the WHEP output picks (:func:`choose_video`) and tells it which.

The viewer's keyframe requests (RTCP PLI and FIR) are handled by aiortc's
sender, which would set a flag for its own encoder; with packets there is no
such encoder, so the sender's hook is pointed at the encoder of what this
viewer gets instead (rate-limited there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable

from aiortc import RTCConfiguration, RTCDataChannel, RTCIceServer, RTCPeerConnection, RTCSessionDescription

from mixer.encodedpacket import EncodedPacket
from mixer.outputs.packettrack import PacketTrack
from mixer.outputs.webrtccodecs import ViewerCodec, audio_preferences, describe_answer, video_preferences
from rooms.sdp import offer_problem, without_unusable_candidates

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 20.0  # seconds from the answer to a connected peer


class OfferError(ValueError):
    """An offer this endpoint cannot answer; the message says why (sent to the client)."""


def check_offer(sdp: str) -> None:
    if not sdp.lstrip().startswith("v=0"):
        raise OfferError("body is not an SDP offer (must start with v=0)")
    sections = re.split(r"\r?\nm=", sdp)[1:]
    media = [s for s in sections if s.startswith(("video", "audio"))]
    if not media:
        raise OfferError("SDP offer has no audio or video media section")
    for section in media:
        if re.search(r"^a=(sendonly|inactive)\s*$", section, flags=re.MULTILINE):
            raise OfferError("a WHEP offer must be recvonly (or sendrecv): this endpoint only sends")


class WhepViewer:
    def __init__(
        self,
        show_id: str,
        on_keyframe_request: Callable[[], None],
        on_closed: Callable[[WhepViewer], Awaitable[None]],
        *,
        video_queue: int,
        audio_queue: int,
        codec: ViewerCodec | None = ViewerCodec.PROGRAM,
        ice_servers: list[RTCIceServer] | None = None,
    ) -> None:
        """``codec``: what this viewer's video is (None: the offer has no video section)."""
        self.id = secrets.token_urlsafe(12)
        self.show_id = show_id
        self.codec = codec
        self.created = time.time()
        self.connected_at: float | None = None
        self._on_keyframe_request = on_keyframe_request
        self._on_closed = on_closed
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=list(ice_servers or [])))
        self.video = PacketTrack("video", video_queue, on_need_keyframe=on_keyframe_request)
        self.audio = PacketTrack("audio", audio_queue)
        self.keyframe_requests = 0  # PLI/FIR from this viewer
        self.answer = ""
        self._closed = False
        self._watchdog: asyncio.Task[None] | None = None
        self.pc.on("connectionstatechange", self._on_state)
        # Timed metadata: the viewer opens a data channel in its offer (any label, an
        # m=application section); every cue is sent on it as one JSON text message.
        self.channels: list[RTCDataChannel] = []
        self.cues_sent = 0
        self.pc.on("datachannel", self.channels.append)

    @property
    def state(self) -> str:
        return "closed" if self._closed else self.pc.connectionState

    async def accept(self, offer_sdp: str, h264_profile_level_id: str) -> str:
        check_offer(offer_sdp)
        try:
            if self.codec is not None:  # an audio-only offer gets no video section (aiortc would fail)
                video = self.pc.addTransceiver(self.video, direction="sendonly")
                video.setCodecPreferences(video_preferences(self.codec))
                # PLI/FIR arrive at the sender, which would flag its own (unused) encoder.
                video.sender._send_keyframe = self._keyframe_request  # type: ignore[method-assign]
            audio = self.pc.addTransceiver(self.audio, direction="sendonly")
            audio.setCodecPreferences(audio_preferences())
            try:
                # Firefox's viewers offer only mDNS (.local) host candidates: dropped, so that
                # aioice keeps the component and the viewer connects peer-reflexively.
                offer = without_unusable_candidates(offer_sdp)
                await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            except Exception as exc:
                if "video" in str(exc):
                    codec = self.codec.value if self.codec else "none"
                    raise OfferError(f"the offer's video codecs do not match the chosen one ({codec}): {exc}") from None
                raise
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except OfferError:
            await self.close()
            raise
        except Exception as exc:  # aiortc: ValueError, OperationError, InvalidStateError on odd SDP
            await self.close()
            raise OfferError(offer_problem(exc)) from None
        self.answer = describe_answer(self.pc.localDescription.sdp, h264_profile_level_id)
        self._watchdog = asyncio.ensure_future(self._connect_watchdog())
        return self.answer

    def _keyframe_request(self) -> None:
        self.keyframe_requests += 1
        self._on_keyframe_request()

    def push(self, packet: EncodedPacket, audio: bool) -> None:
        (self.audio if audio else self.video).push(packet)

    def send_cue(self, packet: EncodedPacket) -> None:
        """A timed metadata cue (``data`` packet) to the viewer's data channels that are open."""
        for channel in self.channels:
            if channel.readyState == "open":
                channel.send(packet.data.decode())
                self.cues_sent += 1

    async def _connect_watchdog(self) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT)
        if self.connected_at is None and not self._closed:
            log.info("whep %s: viewer %s did not connect in %.0f s", self.show_id, self.id, CONNECT_TIMEOUT)
            await self.close()

    async def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and self.connected_at is None:
            self.connected_at = time.time()
        elif state in ("failed", "closed"):
            await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        watchdog = self._watchdog
        if watchdog is not None and watchdog is not asyncio.current_task():
            watchdog.cancel()
        self.video.stop()
        self.audio.stop()
        with contextlib.suppress(Exception):
            await self.pc.close()
        await self._on_closed(self)

    def stats(self) -> dict[str, object]:
        return {
            "id": self.id,
            "state": self.state,
            "connected_s": round(time.time() - self.connected_at, 1) if self.connected_at else None,
            "video_packets": self.video.packets_sent,
            "audio_packets": self.audio.packets_sent,
            "bytes_sent": self.video.bytes_sent + self.audio.bytes_sent,
            "dropped": self.video.dropped + self.audio.dropped,
            "skipped": self.video.skipped,
            "resyncs": self.video.resyncs,
            "keyframe_requests": self.keyframe_requests,
            "codec": self.codec.value if self.codec else None,
            "cues_sent": self.cues_sent,
        }
