"""Patches of aiortc's and aioice's internals: one section per patch, each pinned.

Every patched upstream function is named in a ``PINNED_*`` table with the SHA-256
(first 16 hex digits) of ``inspect.getsource`` of the installed version;
tests/rooms/test_compat.py fails loudly when an upgrade changes one of them, so
the patch gets re-read against the new code instead of silently misbehaving.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import hashlib
import inspect
import struct
import time
from collections.abc import Iterator
from typing import Any

import aiortc.codecs
import aiortc.jitterbuffer
import aiortc.rtcpeerconnection
import aiortc.rtcrtpreceiver
from aiortc import rtp, sdp
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import NackGenerator, RTCRtpReceiver
from aiortc.rtp import RTCP_PSFB_FIR, RtcpPsfbPacket, RtpPacket

from rooms.framebuffer import RETRY_FACTOR, FrameBuffer


def source_hash(obj: Any) -> str:
    """First 16 hex digits of the SHA-256 of an object's source code."""
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


# =====================================================================================
# aiortc codec negotiation
# =====================================================================================
# aiortc 1.16 answers an H.264 offer only when one offered format has *exactly* the
# profile and packetization mode of one of its own two entries (Constrained Baseline or
# Baseline, packetization-mode=1): an honest offer of Main (4d001f) or High (640c1f)
# profile, of packetization-mode=0, or with no packetization-mode at all got
# ``OperationError: Failed to set remote video description send parameters``.
# For *receiving*, the limit is wrong: FFmpeg's H.264 decoder (aiortc's) decodes every
# 8-bit 4:2:0 profile, and aiortc's depayloader takes single NAL units (mode 0) as well
# as STAP-A and FU-A (mode 1). RFC 6184 section 8.2.2 asks the answerer to keep the
# offered profile and packetization-mode (only the level may differ) or drop the format;
# so while a WHIP session answers (``receiving_codecs``), every decodable H.264 format is
# accepted with the offer's own parameters echoed. Mode 2 (interleaved: STAP-B, MTAP,
# FU-B) and the 4:4:4 profile are still refused. WHEP answers (sending our one encode)
# and our test publishers keep aiortc's own rule: the context variable is unset there.

PINNED_CODEC_NEGOTIATION: dict[str, tuple[Any, str]] = {
    # replaced while answering as a receiver; its structure is copied in _receive_common_codecs
    "find_common_codecs": (aiortc.rtcpeerconnection.find_common_codecs, "2415d76d0aa2c211"),
    # still used for every codec but H.264
    "is_codec_compatible": (aiortc.rtcpeerconnection.is_codec_compatible, "23cf2acabed4b8ec"),
    # calls find_common_codecs(CODECS[kind], offered) by its module-global name, inside our context
    "RTCPeerConnection.setRemoteDescription": (
        aiortc.rtcpeerconnection.RTCPeerConnection.setRemoteDescription,
        "42c5e2eb7ca58b5f",
    ),
}

# Profiles FFmpeg decodes to 8-bit 4:2:0 frames (what the mixer composes).
RECEIVABLE_H264_PROFILES = frozenset(
    {
        sdp.H264Profile.PROFILE_CONSTRAINED_BASELINE,
        sdp.H264Profile.PROFILE_BASELINE,
        sdp.H264Profile.PROFILE_MAIN,
        sdp.H264Profile.PROFILE_CONSTRAINED_HIGH,
        sdp.H264Profile.PROFILE_HIGH,
    }
)
RECEIVABLE_PACKETIZATION_MODES = frozenset({0, 1})  # RFC 6184 5.4: single NAL unit, non-interleaved
_H264_FORMAT_PARAMETERS = ("level-asymmetry-allowed", "packetization-mode", "profile-level-id")

# The video codec a receiving answer puts first (``video/h264``); None: aiortc's own rule.
_RECEIVING: contextvars.ContextVar[str | None] = contextvars.ContextVar("whip_receiving_codecs", default=None)
_upstream_find_common_codecs = aiortc.rtcpeerconnection.find_common_codecs


def h264_receivable(parameters: dict[str, Any]) -> bool:
    """Whether we can depacketize and decode an H.264 format with these fmtp parameters.

    No ``packetization-mode`` means mode 0 (RFC 6184 8.1); no ``profile-level-id`` means
    Baseline (42000a), which is decodable.
    """
    try:
        mode = int(parameters.get("packetization-mode", 0) or 0)
        level_id = parameters.get("profile-level-id")
        profile = sdp.parse_h264_profile_level_id(str(level_id))[0] if level_id is not None else None
    except ValueError:
        return False
    return mode in RECEIVABLE_PACKETIZATION_MODES and (profile is None or profile in RECEIVABLE_H264_PROFILES)


def _receive_common_codecs(
    local_codecs: list[RTCRtpCodecParameters], remote_codecs: list[RTCRtpCodecParameters]
) -> list[RTCRtpCodecParameters]:
    """aiortc's find_common_codecs, but H.264 formats are matched as receivable and echoed."""
    common: list[RTCRtpCodecParameters] = []
    common_base: dict[int, RTCRtpCodecParameters] = {}
    for remote in remote_codecs:
        if is_rtx(remote):  # retransmission of a format we accepted, at its clock rate
            apt = remote.parameters.get("apt")
            if isinstance(apt, int) and apt in common_base and remote.clockRate == common_base[apt].clockRate:
                common.append(copy.deepcopy(remote))
            continue
        for local in local_codecs:
            if local.mimeType.lower() != remote.mimeType.lower() or local.clockRate != remote.clockRate:
                continue
            h264 = remote.mimeType.lower() == "video/h264"
            if h264 and not h264_receivable(remote.parameters):
                break
            if not h264 and not aiortc.rtcpeerconnection.is_codec_compatible(local, remote):
                continue
            codec = copy.deepcopy(local)
            if h264:  # RFC 6184 8.2.2: keep the offer's format parameters
                codec.parameters = {k: v for k, v in remote.parameters.items() if k in _H264_FORMAT_PARAMETERS}
            if remote.payloadType in rtp.DYNAMIC_PAYLOAD_TYPES:
                codec.payloadType = remote.payloadType
            codec.rtcpFeedback = [fb for fb in codec.rtcpFeedback if fb in remote.rtcpFeedback]
            common.append(codec)
            if codec.payloadType is not None:
                common_base[codec.payloadType] = codec
            break
    return common


def _find_common_codecs(
    local_codecs: list[RTCRtpCodecParameters], remote_codecs: list[RTCRtpCodecParameters]
) -> list[RTCRtpCodecParameters]:
    preferred = _RECEIVING.get()
    if preferred is None:
        return _upstream_find_common_codecs(local_codecs, remote_codecs)
    common = _receive_common_codecs(local_codecs, remote_codecs)
    by_pt = {c.payloadType: c for c in common}

    def rank(codec: RTCRtpCodecParameters) -> int:
        apt = codec.parameters.get("apt")
        base = by_pt.get(apt, codec) if is_rtx(codec) and isinstance(apt, int) else codec
        return 0 if base.mimeType.lower() == preferred else 1

    return sorted(common, key=rank)  # stable: the offerer's order within each rank


def install_codec_negotiation() -> None:
    """Route aiortc's codec matching through ``_find_common_codecs``; idempotent."""
    aiortc.rtcpeerconnection.find_common_codecs = _find_common_codecs  # type: ignore[assignment]


@contextlib.contextmanager
def receiving_codecs(preferred_video: str) -> Iterator[None]:
    """While applying a WHIP offer: accept every decodable H.264 format, ``preferred_video`` first.

    ``preferred_video`` is a codec name (``h264``, ``vp8``). Scoped by a context variable,
    so concurrent WHEP answers in other tasks keep aiortc's rule.
    """
    install_codec_negotiation()
    token = _RECEIVING.set(f"video/{preferred_video.lower()}")
    try:
        yield
    finally:
        _RECEIVING.reset(token)


# =====================================================================================
# aiortc receive path
# =====================================================================================
# aiortc 1.16's video receiver (rtcrtpreceiver.py, jitterbuffer.py):
# * its JitterBuffer(capacity=512) releases a frame only when every earlier packet is
#   in, so one packet NACK cannot repair holds the video for seconds, and it then
#   hands the decoder frames whose references are gone (broken pictures);
# * it asks for a keyframe (PLI) only when that buffer overflows or the decoder fails,
#   with no rate limit, and never with FIR;
# * NackGenerator NACKs a missing packet again only when a *new* gap appears;
# * getStats() files every SSRC of a receiver under one id, so the RTX stream's
#   counters (no loss) replace the video's: packetsLost read 0 under 5 % loss.
# ``ReceivePath`` fixes those on one receiver: the video jitter buffer becomes
# rooms.framebuffer.FrameBuffer, missing packets are NACKed again after a repair
# round trip, keyframe requests are rate-limited (PLI, FIR where negotiated), and
# loss/jitter are read per media SSRC. Everything else stays aiortc's.
# Not replaced: aiortc's audio buffer (capacity 16, prefetch 4) also holds the sound
# behind a lost packet until 16 packets (320 ms) pile up. Releasing audio at once was
# tried: lip sync (tests/mixer/test_audio_lipsync.py) moved by ~50 ms and varied by
# +-70 ms under load, so it needs the mixer's A/V offset reworked with it.

PINNED_RECEIVE_PATH: dict[str, tuple[Any, str]] = {
    # what we wrap or replace, and the internals we read (names, call order)
    "RTCRtpReceiver.__init__": (RTCRtpReceiver.__init__, "3e3b7b5cefbaac6f"),
    "RTCRtpReceiver._handle_rtp_packet": (RTCRtpReceiver._handle_rtp_packet, "4e54983d021a6336"),
    "RTCRtpReceiver._send_rtcp_pli": (RTCRtpReceiver._send_rtcp_pli, "ae74c43d50f6eb7b"),
    "RTCRtpReceiver._send_rtcp_nack": (RTCRtpReceiver._send_rtcp_nack, "5735e597c91b5cf6"),
    "RTCRtpReceiver._send_rtcp": (RTCRtpReceiver._send_rtcp, "9f0bc9f6a8ddb289"),
    "NackGenerator": (NackGenerator, "4e89418b046d6ffc"),
    "StreamStatistics": (aiortc.rtcrtpreceiver.StreamStatistics, "9cd41a1293758a29"),
    "decoder_worker": (aiortc.rtcrtpreceiver.decoder_worker, "d500d4e567d6846c"),
    "JitterBuffer.add": (aiortc.jitterbuffer.JitterBuffer.add, "c6cd693611aa3eb4"),
    "find_common_codecs": (aiortc.rtcpeerconnection.find_common_codecs, "2415d76d0aa2c211"),
    "init_codecs": (aiortc.codecs.init_codecs, "fa2bb865311166b3"),
}

KEYFRAME_REQUEST_INTERVAL = 0.4  # s: at most one PLI/FIR per 400 ms (an IDR costs 5-10 inter frames of bits)
MAX_NACKS_PER_PACKET = 3
REORDER_S = 0.005  # a gap younger than this is probably reordering (packets 1-3 ms apart)
FIR = RTCRtcpFeedback(type="ccm", parameter="fir")


def negotiate_fir() -> None:
    """Let answers keep ``a=rtcp-fb:* ccm fir`` (RFC 5104) for video; idempotent.

    aiortc answers only the feedback in its own codec table, which lacks FIR.
    aiortc senders already answer FIR like PLI.
    """
    for codec in aiortc.codecs.CODECS["video"]:
        if not aiortc.codecs.is_rtx(codec) and FIR not in codec.rtcpFeedback:
            codec.rtcpFeedback.append(FIR)


class RetryingNackGenerator(NackGenerator):
    """aiortc's NACK generator (RFC 4585 6.2.1), a little more patient and more persistent.

    * A new gap is NACKed once it is ``REORDER_S`` old (aiortc NACKs at once): with
      jitter most gaps are packets overtaken by the next ones, not lost.
    * A packet still missing is asked for again ``RETRY_FACTOR`` measured repair round
      trips after its own last NACK (aiortc asks again only when a new gap shows up, and
      then for everything at once), at most ``MAX_NACKS_PER_PACKET`` times, and never
      once the frame buffer has moved past it.

    aiortc sends ``missing`` whenever ``add`` returns True, so between calls it holds
    only the packets due now; the others wait in ``_held``.
    """

    def __init__(self, buffer: FrameBuffer, clock: Any = time.monotonic) -> None:
        super().__init__()
        self._buffer = buffer
        self._clock = clock
        self._held: set[int] = set()  # missing, not due yet
        self._noticed: dict[int, float] = {}  # seq -> when its absence was seen
        self._tries: dict[int, int] = {}  # seq -> NACKs sent for it
        self._last_nack: dict[int, float] = {}
        self._first_nack: dict[int, float] = {}  # seq -> first NACK (for the repair round trip)
        # Set by ReceivePath for each packet: it came as a retransmission (RTX, RFC 4588), or
        # None when the sender has no RTX (then any late arrival counts as a repair).
        self.retransmission: bool | None = None

    def add(self, packet: RtpPacket) -> bool:
        now = self._clock()
        seq = packet.sequence_number
        asked = self._first_nack.pop(seq, None)
        if asked is not None and self.retransmission is not False:
            # Only real repairs time the round trip: an overtaken original arriving just after
            # its NACK would make it look far shorter than it is (and gaps be given up too soon).
            self._buffer.note_repair(now - asked)
        self.missing |= self._held
        self._held = set()
        super().add(packet)
        for lost in [s for s in self.missing if self._buffer.passed(s)]:
            self.missing.discard(lost)
        for table in (self._noticed, self._tries, self._last_nack, self._first_nack):
            for gone in [s for s in table if s not in self.missing]:
                del table[gone]
        retry = max(RETRY_FACTOR * self._buffer.repair_median, 0.03)
        due: set[int] = set()
        for lost in self.missing:
            if lost not in self._tries:
                if now - self._noticed.setdefault(lost, now) >= REORDER_S:
                    due.add(lost)
            elif self._tries[lost] < MAX_NACKS_PER_PACKET and now - self._last_nack[lost] >= retry:
                due.add(lost)
        self._held = {s for s in self.missing - due if self._tries.get(s, 0) < MAX_NACKS_PER_PACKET}
        self.missing = due
        for lost in due:
            self._tries[lost] = self._tries.get(lost, 0) + 1
            self._last_nack[lost] = now
            self._first_nack.setdefault(lost, now)
        return bool(due)


class ReceivePath:
    """Our receive path on one aiortc video receiver; ``counters()`` for the studio's stats.

    Install before the receiver starts (``RTCPeerConnection``'s ``track`` event is in
    time: RTP flows only after ICE and DTLS). Audio receivers keep aiortc's path and
    only get per-SSRC loss counting.
    """

    def __init__(self, receiver: RTCRtpReceiver, kind: str) -> None:
        self.receiver = receiver
        self.kind = kind
        self.nacks_sent = 0  # RTCP NACK packets
        self.nacked_packets = 0  # sequence numbers asked for (with repeats)
        self.plis_sent = 0
        self.firs_sent = 0
        self.keyframe_requests_suppressed = 0  # asked for within the rate limit
        self._fir_seq = 0
        self._last_request = -KEYFRAME_REQUEST_INTERVAL
        self._unanswered = 0  # requests since the last keyframe
        self._keyframes_seen = 0
        r: Any = receiver
        self.buffer: FrameBuffer | None = None
        if kind == "video":
            codecs: dict[int, RTCRtpCodecParameters] = r._RTCRtpReceiver__codecs
            self.buffer = FrameBuffer(codecs.get, r._RTCRtpReceiver__decoder_error)
            r._RTCRtpReceiver__jitter_buffer = self.buffer
            self._nack_generator = RetryingNackGenerator(self.buffer)
            r._RTCRtpReceiver__nack_generator = self._nack_generator
            self._handle = receiver._handle_rtp_packet
            self._pli = receiver._send_rtcp_pli
            self._nack = receiver._send_rtcp_nack
            r._handle_rtp_packet = self._handle_rtp_packet
            r._send_rtcp_pli = self._request_keyframe
            r._send_rtcp_nack = self._send_nack

    # -- patched methods -----------------------------------------------------------------
    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        rtx: dict[int, int] = getattr(self.receiver, "_RTCRtpReceiver__rtx_ssrc", {})
        self._nack_generator.retransmission = (packet.ssrc in rtx) if rtx else None
        await self._handle(packet, arrival_time_ms)
        # aiortc takes one frame per packet; frames made ready by the same packet follow.
        assert self.buffer is not None
        r: Any = self.receiver
        while (frame := self.buffer.pop_ready()) is not None:
            if r._RTCRtpReceiver__decoder_thread is None:
                continue
            frame.timestamp = r._RTCRtpReceiver__timestamp_mapper.map(frame.timestamp)
            r._RTCRtpReceiver__decoder_queue.put((frame.codec, frame))

    async def _send_nack(self, media_ssrc: int, lost: list[int]) -> None:
        if lost:
            self.nacks_sent += 1
            self.nacked_packets += len(lost)
            await self._nack(media_ssrc, lost)

    async def _request_keyframe(self, media_ssrc: int) -> None:
        """PLI (RFC 4585 6.3.1), or FIR (RFC 5104 4.3.1) where negotiated and PLI is not or goes unanswered."""
        now = time.monotonic()
        if self.buffer is not None and self.buffer.keyframes != self._keyframes_seen:
            self._keyframes_seen = self.buffer.keyframes
            self._unanswered = 0
        if now - self._last_request < KEYFRAME_REQUEST_INTERVAL:
            self.keyframe_requests_suppressed += 1
            return
        self._last_request = now
        pli, fir = self._feedback()
        r: Any = self.receiver
        rtcp_ssrc = r._RTCRtpReceiver__rtcp_ssrc
        if fir and rtcp_ssrc is not None and (not pli or self._unanswered >= 2):
            self._fir_seq = (self._fir_seq + 1) & 0xFF
            # FCI: SSRC of the media sender, command sequence number, 24 reserved bits.
            packet = RtcpPsfbPacket(
                fmt=RTCP_PSFB_FIR, ssrc=rtcp_ssrc, media_ssrc=0, fci=struct.pack("!LB3x", media_ssrc, self._fir_seq)
            )
            await self.receiver._send_rtcp(packet)
            self.firs_sent += 1
        else:
            await self._pli(media_ssrc)
            self.plis_sent += 1
        self._unanswered += 1

    # -- reading -------------------------------------------------------------------------
    def _feedback(self) -> tuple[bool, bool]:
        """(PLI negotiated, FIR negotiated) for this receiver's video codecs."""
        codecs: dict[int, RTCRtpCodecParameters] = getattr(self.receiver, "_RTCRtpReceiver__codecs", {})
        feedback = [f for c in codecs.values() if not aiortc.codecs.is_rtx(c) for f in c.rtcpFeedback]
        pli = any(f.type == "nack" and f.parameter == "pli" for f in feedback)
        return pli, FIR in feedback

    def rtp_counts(self) -> tuple[int, int, float | None]:
        """(packets expected, packets received, jitter in ms) of the media SSRCs, cumulative.

        RTX streams (RFC 4588) are left out: their packets are repairs, not media.
        Loss = expected - received, as RFC 3550 6.4.1 counts it.
        """
        r: Any = self.receiver
        rtx: dict[int, int] = getattr(r, "_RTCRtpReceiver__rtx_ssrc", {})
        streams: dict[int, Any] = getattr(r, "_RTCRtpReceiver__remote_streams", {})
        expected = received = 0
        jitter: float | None = None
        for ssrc, stream in list(streams.items()):
            if ssrc in rtx or stream.max_seq is None:
                continue
            expected += stream.packets_expected
            received += stream.packets_received
            jitter = stream.jitter / stream._clockrate * 1000
        return expected, received, jitter

    def counters(self) -> dict[str, int]:
        out = {
            "nacks_sent": self.nacks_sent,
            "nacked_packets": self.nacked_packets,
            "plis_sent": self.plis_sent,
            "firs_sent": self.firs_sent,
            "keyframe_requests_suppressed": self.keyframe_requests_suppressed,
        }
        if self.buffer is not None:
            b = self.buffer
            out |= {
                "frames_received": b.frames_complete,
                "frames_dropped": b.frames_dropped,
                "frames_incomplete": b.frames_incomplete,
                "keyframes_received": b.keyframes,
                "gaps_skipped": b.gaps_skipped,
                "packets_repaired": b.repaired,
            }
        return out


def install_receive_path(receiver: RTCRtpReceiver, kind: str) -> ReceivePath:
    """Put our receive path on ``receiver`` (once); returns it."""
    existing = getattr(receiver, "_broadcast_receive_path", None)
    if isinstance(existing, ReceivePath):
        return existing
    negotiate_fir()
    path = ReceivePath(receiver, kind)
    receiver._broadcast_receive_path = path  # type: ignore[attr-defined]
    return path


# =====================================================================================
# Talk and listen: a one-packet audio jitter buffer for talkback microphones
# =====================================================================================
# aiortc's audio receiver releases a packet only once 4 more are queued (``JitterBuffer(
# capacity=16, prefetch=4)`` in ``RTCRtpReceiver.__init__``): 80 ms of delay before the decoder.
# A talkback voice then waits in the mixer's own jitter buffer (mixer/mixminus.py, the same
# 60-90 ms one the studios have), which absorbs network jitter anyway; the first buffer is only
# delay on the operator-to-host path. Talkback receivers therefore keep one packet (a frame is
# complete when the next packet's timestamp shows; 20 ms). The studios' WHIP receivers keep
# aiortc's 4: the program's lip sync (``av_sync_ms``, mixer/README.md) is measured with them.

PINNED_AUDIO_JITTER: dict[str, tuple[Any, str]] = {
    # makes the audio receiver's JitterBuffer(capacity=16, prefetch=4), stored as __jitter_buffer
    "RTCRtpReceiver.__init__": (RTCRtpReceiver.__init__, "3e3b7b5cefbaac6f"),
}
TALKBACK_PREFETCH = 1


def shorten_audio_jitter(receiver: RTCRtpReceiver, prefetch: int = TALKBACK_PREFETCH) -> None:
    """Give an audio receiver a ``prefetch``-packet jitter buffer (before its first packet)."""
    receiver._RTCRtpReceiver__jitter_buffer = aiortc.jitterbuffer.JitterBuffer(  # type: ignore[attr-defined]
        capacity=16, prefetch=prefetch
    )
