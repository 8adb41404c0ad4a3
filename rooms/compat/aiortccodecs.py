"""aiortc's codec tables and codec matching: the patches, each pinned (rooms/compat/pins.py).

Three patches, applied once at start by :func:`rooms.compat.install`:

* answering as a receiver (WHIP): every H.264 format FFmpeg decodes is accepted, with
  the offer's own format parameters (:func:`receiving_codecs`);
* the H.264 High family and payload types 35-63 in aiortc's process-wide tables, so WHEP
  can send the program's High profile packets as they are (:func:`register_h264_high`);
* RTCP feedback ``ccm fir`` kept in answers (:func:`negotiate_fir`).

And one read of a private attribute: the codecs a transceiver negotiated
(:func:`negotiated_codecs`).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
from collections.abc import Iterator
from typing import Any

import aiortc.codecs
import aiortc.rtcpeerconnection
import aiortc.rtcrtptransceiver
import aiortc.rtp
from aiortc import rtp, sdp
from aiortc.codecs import CODECS, is_rtx
from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpCodecParameters
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from rooms.compat.pins import Pins

# -- answering as a receiver: every decodable H.264 format -------------------------------
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
# Removed by: an aiortc answerer that, for a receive-only transceiver, matches H.264 by
# RFC 6184 8.2.2 (any profile its decoder takes, both packetization modes) instead of
# by exact equality with its own two table entries.

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
    token = _RECEIVING.set(f"video/{preferred_video.lower()}")
    try:
        yield
    finally:
        _RECEIVING.reset(token)


# -- the H.264 High family and payload types 35-63 in aiortc's tables ---------------------
# aiortc knows H.264 only as Constrained Baseline / Baseline (its own encoder's profiles) and
# negotiates the profile from its process-wide codec table (``aiortc.codecs.CODECS``). The
# program is libx264 *High*, sent to WHEP viewers as it is, so the table gets the High family
# (packetization-mode 1); rooms/webrtccodecs.py says which viewer gets what. The entries are
# inert for WHIP ingest (the publisher's order picks the codec there).
# RFC 3264 6.1: an answer must reuse the offer's payload type numbers. aiortc does so only for
# 96-127 (``aiortc.rtp.DYNAMIC_PAYLOAD_TYPES``) and renumbers the rest to its own; Chromium now
# also numbers codecs 35-63 (High 4:4:4 Predictive is 41 in Chromium 156), so the answer named
# a payload type Chromium had never offered and it dropped every video packet. 35-63 is safe
# for RTP/RTCP multiplexing (RFC 5761 4), which is why Chromium uses it.
# Removed by: an aiortc with a public way to add codecs (or High profile entries of its own)
# and a dynamic payload type range that includes 35-63.

PINNED_CODEC_TABLES: Pins = {
    # the table we append to, read at import by RTCRtpSender.getCapabilities and the SDP answerer
    "init_codecs": (aiortc.codecs.init_codecs, "fa2bb865311166b3"),
}

# In preference order; level 3.1 (1f), the level Chromium offers.
HIGH_FAMILY = ("64001f", "f4001f", "640c1f")
_DYNAMIC_PAYLOAD_TYPES = frozenset(range(35, 64)) | frozenset(range(96, 128))


def h264_parameters(profile_level_id: str) -> dict[str, int | str | None]:
    """The fmtp parameters of our H.264 table entries (packetization-mode 1)."""
    return {"level-asymmetry-allowed": "1", "packetization-mode": "1", "profile-level-id": profile_level_id}


def register_h264_high() -> None:
    """Add the High family (packetization-mode 1) to aiortc's codec table; idempotent.

    Also makes aiortc keep the offer's payload type numbers in 35-63 (process-wide,
    so WHIP answers benefit too).
    """
    aiortc.rtp.DYNAMIC_PAYLOAD_TYPES = _DYNAMIC_PAYLOAD_TYPES  # type: ignore[assignment]
    video = CODECS["video"]
    for plid in HIGH_FAMILY:
        if any(c.mimeType == "video/H264" and c.parameters == h264_parameters(plid) for c in video):
            continue
        used = {c.payloadType for table in CODECS.values() for c in table}
        pt = next(p for p in range(96, 128) if p not in used and p + 1 not in used)
        feedback = [
            RTCRtcpFeedback(type="nack"),
            RTCRtcpFeedback(type="nack", parameter="pli"),
            RTCRtcpFeedback(type="ccm", parameter="fir"),
            RTCRtcpFeedback(type="goog-remb"),
        ]
        video.append(
            RTCRtpCodecParameters(
                mimeType="video/H264",
                clockRate=90000,
                payloadType=pt,
                rtcpFeedback=feedback,
                parameters=h264_parameters(plid),
            )
        )
        rtx = RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=pt + 1, parameters={"apt": pt})
        video.append(rtx)


# -- FIR in answers ----------------------------------------------------------------------
# aiortc answers only the RTCP feedback in its own codec table, which lacks ``ccm fir``
# (RFC 5104); our receivers send FIR where negotiated (rooms/compat/aiortcreceive.py), and
# aiortc senders already answer FIR like PLI.
# Removed by: ``ccm fir`` in aiortc's own video table entries.

FIR = RTCRtcpFeedback(type="ccm", parameter="fir")


def negotiate_fir() -> None:
    """Let answers keep ``a=rtcp-fb:* ccm fir`` (RFC 5104) for video; idempotent."""
    for codec in aiortc.codecs.CODECS["video"]:
        if not aiortc.codecs.is_rtx(codec) and FIR not in codec.rtcpFeedback:
            codec.rtcpFeedback.append(FIR)


# -- what a transceiver negotiated --------------------------------------------------------
# aiortc keeps the negotiated codecs in ``RTCRtpTransceiver._codecs`` (set when a description
# is applied) and has no public getter for them.
# Removed by: a public ``RTCRtpTransceiver`` property for the negotiated codecs.

PINNED_TRANSCEIVER: Pins = {
    "RTCRtpTransceiver.__init__": (RTCRtpTransceiver.__init__, "60c6da8f7de314ad"),
}


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """The transceiver's negotiated codecs, preferred first ([] before negotiation)."""
    return list(getattr(transceiver, "_codecs", None) or [])


PINNED: Pins = {**PINNED_CODEC_NEGOTIATION, **PINNED_CODEC_TABLES, **PINNED_TRANSCEIVER}


def install() -> None:
    """The process-wide codec patches; idempotent (the High family before FIR, so it gets FIR too)."""
    install_codec_negotiation()
    register_h264_high()
    negotiate_fir()
