"""One WHEP viewer's egress: an aiortc peer connection sending the shared program packets.

The egress twin of :mod:`rooms.whipsession`: the signalling and the peer
connection live here, at the edge; the WHEP output (:mod:`mixer.outputs.whepoutput`)
only hands each attached session the packets it gets.

The viewer's video is the program's own H.264 High packets, or those of a
shared second encode (VP8 or Constrained Baseline) when it cannot decode High:
:func:`answer_viewer` picks from the offer (:func:`choose_video`).

The viewer's keyframe requests (RTCP PLI and FIR) are handled by aiortc's
sender, which would set a flag for its own encoder; with packets there is no
such encoder, so the sender's hook is pointed at the encoder of what this
viewer gets instead (rate-limited there).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import Awaitable, Callable

from aiortc import RTCConfiguration, RTCDataChannel, RTCIceServer, RTCPeerConnection, RTCSessionDescription

from mixer.encodedpacket import EncodedPacket
from mixer.outputs.viewercodec import ViewerCodec
from mixer.outputs.whepoutput import WhepFull, WhepOutput
from rooms import compat
from rooms.compat import route_keyframe_requests
from rooms.packettrack import PacketTrack
from rooms.peerwatch import PeerWatch
from rooms.sdp import OfferError, offer_problem, without_unusable_candidates
from rooms.webrtccodecs import audio_preferences, choose_video, describe_answer, video_preferences

CONNECT_TIMEOUT = 20.0  # seconds from the answer to a connected peer


def check_offer(sdp: str) -> None:
    """Raises :class:`OfferError` (message for the client) unless ``sdp`` is a WHEP-shaped offer."""
    if not sdp.lstrip().startswith("v=0"):
        raise OfferError("body is not an SDP offer (must start with v=0)")
    sections = re.split(r"\r?\nm=", sdp)[1:]
    media = [s for s in sections if s.startswith(("video", "audio"))]
    if not media:
        raise OfferError("SDP offer has no audio or video media section")
    for section in media:
        if re.search(r"^a=(sendonly|inactive)\s*$", section, flags=re.MULTILINE):
            raise OfferError("a WHEP offer must be recvonly (or sendrecv): this endpoint only sends")


class WhepSession(PeerWatch):
    """One viewer's peer connection (send only), fed by a :class:`WhepOutput` through :meth:`push`."""

    def __init__(
        self,
        show_id: str,
        on_keyframe_request: Callable[[], None],
        on_closed: Callable[[WhepSession], Awaitable[None]],
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
            if self.codec is not None:  # None: an audio-only offer (a transceiver it does not match fails)
                video = self.pc.addTransceiver(self.video, direction="sendonly")
                video.setCodecPreferences(video_preferences(self.codec))
                # PLI/FIR arrive at the sender, which would flag its own (unused) encoder.
                route_keyframe_requests(video.sender, self._keyframe_request)
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
        self._watchdog = asyncio.ensure_future(
            self._close_unless_connected(CONNECT_TIMEOUT, f"whep {self.show_id}: viewer {self.id}")
        )
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

    @property
    def dropped_packets(self) -> int:
        return self.video.dropped + self.audio.dropped

    @property
    def skipped_packets(self) -> int:
        return self.video.skipped

    @property
    def resyncs(self) -> int:
        return self.video.resyncs

    def stats(self) -> dict[str, object]:
        return {
            "id": self.id,
            "state": self.state,
            "connected_s": round(time.time() - self.connected_at, 1) if self.connected_at else None,
            "video_packets": self.video.packets_sent,
            "audio_packets": self.audio.packets_sent,
            "bytes_sent": self.video.bytes_sent + self.audio.bytes_sent,
            "dropped": self.dropped_packets,
            "skipped": self.skipped_packets,
            "resyncs": self.resyncs,
            "keyframe_requests": self.keyframe_requests,
            "codec": self.codec.value if self.codec else None,
            "cues_sent": self.cues_sent,
        }


async def answer_viewer(
    output: WhepOutput, offer_sdp: str, session_type: Callable[..., WhepSession] | None = None
) -> WhepSession:
    """Answer a viewer's offer and attach its session to ``output``; the answer is ``session.answer``.

    ``session_type``: made like :class:`WhepSession` (the crew monitor's
    :class:`rooms.monitorsession.MonitorSession`); default :class:`WhepSession`.

    Raises :class:`OfferError` (a message for the client) for an offer this endpoint
    cannot answer, :class:`WhepFull` when the output has no room or is closed.
    """
    compat.install()  # done at start by the app; here for outputs made without one (tests, benches)
    with output.admitting():
        try:
            check_offer(offer_sdp)
            codec = choose_video(offer_sdp, running=output.running_codecs)
        except (OfferError, LookupError) as exc:
            output.refused += 1
            raise OfferError(str(exc)) from None
        except Exception as exc:  # aiortc's SDP parser: ValueError, KeyError, ... on odd SDP
            output.refused += 1
            raise OfferError(f"cannot answer this SDP offer: {type(exc).__name__}: {exc}") from None
        video_queue, audio_queue = output.viewer_queues()

        async def closed(session: WhepSession) -> None:
            output.detach(session)

        session = (session_type or WhepSession)(
            output.show_id,
            lambda: output.request_keyframe(codec),
            closed,
            video_queue=video_queue,
            audio_queue=audio_queue,
            codec=codec,
            ice_servers=output.ice_servers,
        )
        try:
            await session.accept(offer_sdp, output.answer_profile_level_id(codec))
        except OfferError:
            output.refused += 1
            raise
    try:
        output.attach(session)
    except WhepFull:
        await session.close()
        raise
    return session
