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
from collections.abc import Iterator
from typing import Any

import aiortc.rtcpeerconnection
from aiortc import rtp, sdp
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecParameters


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
