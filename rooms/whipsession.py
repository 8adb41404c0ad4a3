"""One studio's WHIP ingest: an aiortc peer connection feeding a FeedBuffer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from rooms import compat
from rooms.compat import (
    ReceivePath,
    handshake_failure,
    ice_sockets,
    install_receive_path,
    negotiated_codecs,
    receiving_codecs,
    stop_decoders,
)
from rooms.decodepolicy import DecodePolicy
from rooms.ingeststats import IngestStats
from rooms.liveness import Liveness
from rooms.sdp import (
    OfferError,
    SdpFrag,
    add_bitrate_hints,
    announce_public_address,
    bundle_offer,
    offer_problem,
    usable_candidate,
    without_unusable_candidates,
)
from rooms.sessionspec import SessionSpec, WhipOptions
from rooms.trackframes import track_frames
from rooms.udpsocket import socket_drops

__all__ = ["IceRestartUnsupported", "SdpError", "SessionSpec", "WhipOptions", "WhipSession", "check_offer"]

log = logging.getLogger(__name__)


class SdpError(ValueError):
    """The offer is not SDP we can answer; the message says why."""


class IceRestartUnsupported(Exception):
    """aiortc cannot restart ICE on a live connection: the client must POST a new session."""


def check_offer(sdp: str) -> None:
    if not sdp.lstrip().startswith("v=0"):
        raise SdpError("body is not an SDP offer (must start with v=0)")
    if "\nm=audio" not in sdp and "\nm=video" not in sdp:
        raise SdpError("SDP offer has no audio or video media section")


class WhipSession:
    """Receives one studio's audio and video (``spec``); decoded frames go to ``spec.feed``.

    aiortc decodes in its own worker thread, so the two receive tasks here only
    move frame references into the feed buffer. ``spec.decode_level``: ``full`` or ``standby``
    (keyframes only, rooms/decodepolicy.py); change it with ``set_decode_level``.
    """

    def __init__(self, spec: SessionSpec[WhipSession]) -> None:
        self.id = secrets.token_urlsafe(12)
        # The ICE session's entity-tag (RFC 9725 4.3.1); it would change on an ICE restart.
        self.etag = f'"{self.id}"'
        self.show_id, self.studio_id = spec.show_id, spec.studio_id
        self.client = spec.client  # the join page that published (to tell it apart from a second tab)
        self.feed = spec.feed
        self.decode = DecodePolicy(spec.decode_level, on_skipped=spec.feed.note_delivering)
        self.options = spec.options
        compat.install()  # done at start by the app; here for sessions made without one (tests, benches)
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=list(self.options.ice_servers)))
        self.created = time.time()
        self.answer = ""
        self._remote_ufrag: str | None = None
        self._on_closed = spec.on_closed
        on_presence = spec.on_presence
        self._tasks: set[asyncio.Future[None]] = set()
        self._closed = False
        self._closing: asyncio.Future[None] | None = None  # a close the liveness watch asked for
        # Online while connected and receiving media; closed when that does not start or stops.
        self.liveness = Liveness(
            self.pc,
            self.options.liveness,
            (lambda online: on_presence(self, online)) if on_presence is not None else None,
            self._end,
            f"studio {self.studio_id} session {self.id}",
        )
        self.video_frames = 0
        self.audio_frames = 0
        self.resolution: tuple[int, int] | None = None
        self.ingest = IngestStats()
        self.receive_paths: list[ReceivePath] = []  # ours on aiortc's receivers: loss repair and counters
        self.client_stats: dict[str, float] = {}  # what the publishing page measured (RTT)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    @property
    def state(self) -> str:
        """aiortc's connection state, "stalled" while connected without media, or "closed"."""
        if self._closed:
            return "closed"
        state = self.pc.connectionState
        return "stalled" if state == "connected" and self.liveness.stalled else state

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def accept(self, offer_sdp: str) -> str:
        """Apply the offer and return our answer (SDP); SdpError names why an offer cannot be.

        Before aiortc sees it, the offer's bundled sections are completed and candidates our
        ICE agent cannot use (mDNS names) are left out (rooms/sdp.py). aiortc fixes the codec
        when it applies the offer: ``receiving_codecs`` puts ours first (else Chromium's first
        choice, VP8, wins) and accepts every H.264 profile and mode we decode (rooms/compat/aiortccodecs.py).
        """
        check_offer(offer_sdp)
        try:
            offer = without_unusable_candidates(bundle_offer(offer_sdp))
        except OfferError as exc:
            await self.close()
            raise SdpError(str(exc)) from None
        try:
            with receiving_codecs(self.options.video_codec):
                await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            # Kept from the text: reading it back from aiortc writes the whole description again.
            self._remote_ufrag = next(
                (line[12:].strip() for line in offer.splitlines() if line.startswith("a=ice-ufrag:")), None
            )
            # Receive only: make every transceiver recvonly before answering.
            for transceiver in self.pc.getTransceivers():
                transceiver.direction = "recvonly"
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except Exception as exc:  # aiortc: ValueError/AssertionError on odd SDP, OperationError: no common codec
            await self.close()
            raise SdpError(offer_problem(exc)) from None
        answer = add_bitrate_hints(self.pc.localDescription.sdp, self.options.start_kbps, self.options.min_kbps)
        if self.options.public_address:
            answer = announce_public_address(answer, self.options.public_address)
        self.answer = answer
        self._spawn(self._sample_stats())
        self._spawn(self.liveness.run())
        return answer

    def _end(self, reason: str) -> None:
        """The liveness watch gives up: close in a task of its own (close() cancels the watch)."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self.close())

    # -- trickle ICE (RFC 9725 4.3.2) ----------------------------------------------------
    def remote_ufrag(self) -> str | None:
        """The ICE username fragment of the offer applied (None before one is)."""
        return self._remote_ufrag

    async def add_candidates(self, frag: SdpFrag) -> int:
        """Add the fragment's candidates; returns how many were taken.

        New credentials mean the client restarts ICE, which aiortc cannot do.
        Candidates we cannot use (TCP, mDNS names, malformed) are dropped silently, as
        RFC 9725 4.3.2 allows. End-of-candidates is passed on only once some candidate is
        known: before that aioice would give up, while peer-reflexive discovery still works.
        """
        current = self.remote_ufrag()
        if frag.ufrag is not None and current is not None and frag.ufrag != current:
            raise IceRestartUnsupported("ICE restart is not supported: POST a new session instead")
        transceivers = self.pc.getTransceivers()
        if not transceivers:
            return 0
        # BUNDLE: every candidate belongs to the one transport of the first m= section.
        bundle_mid = transceivers[0].mid
        added = 0
        for _mid, line in frag.candidates:
            if not usable_candidate(line):
                continue
            try:
                candidate = candidate_from_sdp(line.split(":", 1)[1])
                candidate.sdpMid = bundle_mid
                await self.pc.addIceCandidate(candidate)
            except (AssertionError, ValueError, IndexError, TypeError):  # malformed, or after end-of-candidates
                continue
            added += 1
        transport = transceivers[0].receiver.transport.transport
        if frag.end_of_candidates and transport.getRemoteCandidates():
            with contextlib.suppress(ValueError):
                await transport.addRemoteCandidate(None)
        return added

    # -- media -------------------------------------------------------------------------
    def _on_track(self, track: MediaStreamTrack) -> None:
        # In time: aiortc fires this while applying the offer, RTP flows only after ICE and DTLS.
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver.track is track:
                self.receive_paths.append(install_receive_path(transceiver.receiver, track.kind, self.decode))
        self._spawn(self._receive(track))

    def set_decode_level(self, level: str) -> None:
        """``full`` or ``standby``; going to full asks the studio for a keyframe at once."""
        if self.decode.set_level(level):
            for path in self.receive_paths:
                path.request_keyframe_now()

    async def _receive(self, track: MediaStreamTrack) -> None:
        video = track.kind == "video"
        async for frame in track_frames(track):
            if video:
                self.video_frames += 1
                self.ingest.on_decoded_frame()
                self.resolution = (frame.width, frame.height)  # type: ignore[union-attr]
                self.feed.push_video(frame)  # type: ignore[arg-type]
            else:
                self.audio_frames += 1
                self.feed.push_audio(frame)  # type: ignore[arg-type]

    def request_keyframe(self) -> None:
        """Ask the studio for a keyframe now, past the rate limit (rooms/compat/aiortcreceive.py)."""
        for path in self.receive_paths:
            path.request_keyframe_now()

    async def _sample_stats(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.options.stats_interval)
            with contextlib.suppress(Exception):  # stats are best effort; never end the session
                self.ingest.update(await self.pc.getStats(), self.video_frames, self.codec(), self.receive_paths)
                transports = {t.receiver.transport.transport for t in self.pc.getTransceivers()}
                self.ingest.socket_drops = socket_drops(ice_sockets(transports))

    def codec(self) -> str | None:
        for transceiver in self.pc.getTransceivers():
            codecs = negotiated_codecs(transceiver)
            if transceiver.kind == "video" and codecs:
                return str(codecs[0].mimeType.split("/")[-1])
        return None

    async def _on_state(self) -> None:
        if self.pc.connectionState == "failed":
            self._log_dtls_failure()
        if self.pc.connectionState in ("failed", "closed"):
            await self.close()

    def _log_dtls_failure(self) -> None:
        """One line naming why the DTLS handshake failed (aiortc says it only at debug level)."""
        transports = {t.receiver.transport for t in self.pc.getTransceivers()}  # one when bundled
        for reason in filter(None, map(handshake_failure, transports)):
            log.warning("studio %s: %s", self.studio_id, reason)
            return

    CLOSE_TIMEOUT_S = 5.0

    async def _stop_decoders(self) -> None:
        """End aiortc's decoder threads first, whatever happens to the rest of the close.

        aiortc stops receivers one after another, each after its RTCP task has exited; with
        FFmpeg's WHIP muxer as the peer that wait was seen never to end, so the next
        receiver's decoder thread (not a daemon) lived on, and kept its process from exiting.
        Stopping joins each thread (it may be decoding a frame): in a worker thread, never
        on the event loop (rooms/compat/aiortcreceive.py).
        """
        receivers = [t.receiver for t in self.pc.getTransceivers()]
        await asyncio.to_thread(stop_decoders, receivers)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await self._stop_decoders()
        try:
            # Bounded: a peer connection that never finished its set-up can wait forever
            # on its RTCP task, and one studio must never hold up the show's shutdown.
            await asyncio.wait_for(self.pc.close(), self.CLOSE_TIMEOUT_S)
        except TimeoutError:
            log.warning("studio %s: peer connection did not close within %ss", self.studio_id, self.CLOSE_TIMEOUT_S)
        except Exception:
            log.debug("studio %s: error while closing", self.studio_id, exc_info=True)
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.feed.clear()
        await self.liveness.settled()  # a studio.joined still being written goes first
        await self._on_closed(self)

    def stats(self) -> dict[str, object]:
        rtt = self.client_stats.get("rtt_ms")
        return {
            "session": self.id,
            "transport": "whip",
            "state": self.state,
            "resolution": f"{self.resolution[0]}x{self.resolution[1]}" if self.resolution else None,
            "video_frames": self.video_frames,
            "audio_frames": self.audio_frames,
            "connected_s": round(time.time() - self.created, 1),
            **self.ingest.snapshot(),
            "decode_level": self.decode.level,
            "keyframes_rare": self.decode.keyframes_rare,  # standby decodes it fully (it ignores PLI, long GOP)
            "decode_resumed_ms": None if self.decode.resumed_in_s is None else round(self.decode.resumed_in_s * 1000),
            "rtt_ms": round(rtt, 1) if rtt is not None else None,
        }
