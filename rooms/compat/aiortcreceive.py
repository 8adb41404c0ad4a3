"""aiortc's receive side: video receive path, decoder threads, talkback's audio buffer; each pinned.

Applied per receiver (a WHIP session's), not process-wide: :func:`install_receive_path`
when its track arrives, :func:`stop_decoders` when the session closes.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Iterable
from typing import Any

import aiortc.codecs
import aiortc.jitterbuffer
import aiortc.rtcrtpreceiver
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RTCP_PSFB_FIR, RtcpPsfbPacket, RtpPacket

from rooms.compat.aiortccodecs import FIR
from rooms.compat.aiortcnack import RetryingNackGenerator
from rooms.compat.pins import Pins
from rooms.decodepolicy import DecodePolicy
from rooms.framebuffer import FrameBuffer

# -- the video receive path --------------------------------------------------------------
# aiortc 1.16's video receiver (rtcrtpreceiver.py, jitterbuffer.py):
# * its JitterBuffer(capacity=512) releases a frame only when every earlier packet is
#   in, so one packet NACK cannot repair holds the video for seconds, and it then
#   hands the decoder frames whose references are gone (broken pictures);
# * it asks for a keyframe (PLI) only when that buffer overflows or the decoder fails,
#   with no rate limit, and never with FIR;
# * NackGenerator NACKs a missing packet again only when a *new* gap appears
#   (rooms/compat/aiortcnack.py);
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
# Removed by: an aiortc receiver that releases whole frames in order and gives up on a gap,
# rate-limits PLI (and sends FIR), NACKs again per packet, and counts loss per media SSRC.

PINNED_RECEIVE_PATH: Pins = {
    # what we wrap or replace, and the internals we read (names, call order)
    "RTCRtpReceiver.__init__": (RTCRtpReceiver.__init__, "3e3b7b5cefbaac6f"),
    "RTCRtpReceiver._handle_rtp_packet": (RTCRtpReceiver._handle_rtp_packet, "4e54983d021a6336"),
    "RTCRtpReceiver._send_rtcp_pli": (RTCRtpReceiver._send_rtcp_pli, "ae74c43d50f6eb7b"),
    "RTCRtpReceiver._send_rtcp_nack": (RTCRtpReceiver._send_rtcp_nack, "5735e597c91b5cf6"),
    "RTCRtpReceiver._send_rtcp": (RTCRtpReceiver._send_rtcp, "9f0bc9f6a8ddb289"),
    "StreamStatistics": (aiortc.rtcrtpreceiver.StreamStatistics, "9cd41a1293758a29"),
    "decoder_worker": (aiortc.rtcrtpreceiver.decoder_worker, "d500d4e567d6846c"),
    "JitterBuffer.add": (aiortc.jitterbuffer.JitterBuffer.add, "c6cd693611aa3eb4"),
}

KEYFRAME_REQUEST_INTERVAL = 0.4  # s: at most one PLI/FIR per 400 ms (an IDR costs 5-10 inter frames of bits)
_pending: set[asyncio.Future[None]] = set()  # keyframe requests sent outside aiortc's own tasks


class ReceivePath:
    """Our receive path on one aiortc video receiver; ``counters()`` for the studio's stats.

    Install before the receiver starts (``RTCPeerConnection``'s ``track`` event is in
    time: RTP flows only after ICE and DTLS). Audio receivers keep aiortc's path and
    only get per-SSRC loss counting. ``policy``: which video frames are decoded
    (rooms/decodepolicy.py; default all).
    """

    def __init__(self, receiver: RTCRtpReceiver, kind: str, policy: DecodePolicy | None = None) -> None:
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
            self.buffer = FrameBuffer(codecs.get, r._RTCRtpReceiver__decoder_error, policy=policy)
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

    def request_keyframe_now(self) -> None:
        """Ask for a keyframe at once, past the rate limit (a studio going to preview or air).

        Nothing before the first packet (the stream's own first keyframe is on its way).
        """
        r: Any = self.receiver
        rtx: dict[int, int] = getattr(r, "_RTCRtpReceiver__rtx_ssrc", {})
        streams: dict[int, Any] = getattr(r, "_RTCRtpReceiver__remote_streams", {})
        media = [ssrc for ssrc in streams if ssrc not in rtx]
        self._last_request = -KEYFRAME_REQUEST_INTERVAL
        if media and self.kind == "video":
            task = asyncio.ensure_future(self._request_keyframe(media[-1]))
            _pending.add(task)
            task.add_done_callback(_pending.discard)

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
                "frames_not_decoded": b.policy.frames_skipped,
            }
        return out


def install_receive_path(receiver: RTCRtpReceiver, kind: str, policy: DecodePolicy | None = None) -> ReceivePath:
    """Put our receive path on ``receiver`` (once); returns it."""
    existing = getattr(receiver, "_broadcast_receive_path", None)
    if isinstance(existing, ReceivePath):
        return existing
    path = ReceivePath(receiver, kind, policy)
    receiver._broadcast_receive_path = path  # type: ignore[attr-defined]
    return path


# -- decoder threads ending first -----------------------------------------------------------
# aiortc stops receivers one after another, each after its RTCP task has exited; with
# FFmpeg's WHIP muxer as the peer that wait was seen never to end, so the next receiver's
# decoder thread (not a daemon) lived on and kept the process from exiting. A session ends
# its receivers' decoder threads first through aiortc's private ``__stop_decoder``, which
# *joins* the thread (it may be decoding a frame): call :func:`stop_decoders` off the event
# loop (``asyncio.to_thread``).
# Removed by: an aiortc ``RTCRtpReceiver.stop`` that ends its decoder thread whatever its
# RTCP task does (or a daemon decoder thread).

PINNED_DECODER_STOP: Pins = {
    "RTCRtpReceiver.__stop_decoder": (RTCRtpReceiver._RTCRtpReceiver__stop_decoder, "108105d17e257dba"),  # type: ignore[attr-defined]
    "RTCRtpReceiver.stop": (RTCRtpReceiver.stop, "63734b6894ce67a5"),
}


def stop_decoders(receivers: Iterable[RTCRtpReceiver]) -> None:
    """End each receiver's decoder thread (joined): blocking, so never on the event loop."""
    for receiver in receivers:
        stop = getattr(receiver, "_RTCRtpReceiver__stop_decoder", None)
        if stop is not None:
            stop()


# -- talk and listen: a one-packet audio jitter buffer for talkback microphones -------------
# aiortc's audio receiver releases a packet only once 4 more are queued (``JitterBuffer(
# capacity=16, prefetch=4)`` in ``RTCRtpReceiver.__init__``): 80 ms of delay before the decoder.
# A talkback voice then waits in the mixer's own jitter buffer (mixer/mixminus.py, the same
# 60-90 ms one the studios have), which absorbs network jitter anyway; the first buffer is only
# delay on the operator-to-host path. Talkback receivers therefore keep one packet (a frame is
# complete when the next packet's timestamp shows; 20 ms). The studios' WHIP receivers keep
# aiortc's 4: the program's lip sync (``av_sync_ms``, mixer/README.md) is measured with them.
# Applied per receiver (rooms/talkbacksession.py) when its track arrives.
# Removed by: an aiortc audio receiver whose jitter buffer depth can be set (or adapts).

PINNED_AUDIO_JITTER: Pins = {
    # makes the audio receiver's JitterBuffer(capacity=16, prefetch=4), stored as __jitter_buffer
    "RTCRtpReceiver.__init__": (RTCRtpReceiver.__init__, "3e3b7b5cefbaac6f"),
}
TALKBACK_PREFETCH = 1


def shorten_audio_jitter(receiver: RTCRtpReceiver, prefetch: int = TALKBACK_PREFETCH) -> None:
    """Give an audio receiver a ``prefetch``-packet jitter buffer (before its first packet)."""
    receiver._RTCRtpReceiver__jitter_buffer = aiortc.jitterbuffer.JitterBuffer(  # type: ignore[attr-defined]
        capacity=16, prefetch=prefetch
    )


PINNED: Pins = {**PINNED_RECEIVE_PATH, **PINNED_DECODER_STOP, **PINNED_AUDIO_JITTER}
