"""What WHEP viewers are offered: the program's own H.264 High profile and Opus, honestly described.

aiortc knows H.264 only as Constrained Baseline / Baseline (its own encoder's
profiles) and negotiates the profile from its process-wide codec table.  The
program is libx264 *High* profile, sent as it is (one encode, never
transcoded), so the WHEP transceivers accept only H.264 payload types whose
receivers must decode a High profile stream (H.264 annex A.2):

* High (``64``), the exact match;
* High 4:4:4 Predictive (``f4``): its decoders are required to decode High,
  and it is the only High-family entry Chromium 156 (Debian) offers;
* Constrained High (``640c``): High without B slices, progressive only; our
  stream keeps both constraints (no B-frames, no interlace), though its SPS
  does not set the two constraint flags.

Baseline and Main offers are refused, not downgraded.  Packetization-mode 1
only: aiortc's packetizer sends single NAL, STAP-A and FU-A packets.  The
answer keeps the offer's profile (RFC 6184 8.2.2) and names the encoder's real
level from its SPS; Opus is marked stereo.

The extra entries in aiortc's table are inert for WHIP ingest (the
publisher's order picks the codec there).
"""

from __future__ import annotations

import re

import aiortc.rtp
from aiortc.codecs import CODECS
from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpCodecCapability, RTCRtpCodecParameters
from aiortc.rtcrtpsender import RTCRtpSender

H264_HIGH = 100  # profile_idc of what the encoder makes
# In preference order; level 3.1 (1f), the level Chromium offers.
HIGH_FAMILY = ("64001f", "f4001f", "640c1f")
DEFAULT_PROFILE_LEVEL_ID = "64001f"  # until the encoder's SPS tells the level


def _parameters(profile_level_id: str) -> dict[str, int | str | None]:
    return {"level-asymmetry-allowed": "1", "packetization-mode": "1", "profile-level-id": profile_level_id}


# RFC 3264 6.1: an answer must reuse the offer's payload type numbers.  aiortc does so
# only for 96-127 and renumbers the rest to its own; Chromium now also numbers codecs
# 35-63 (High 4:4:4 Predictive is 41 in Chromium 156), so the answer named a payload
# type Chromium had never offered and it dropped every video packet.  35-63 is safe
# for RTP/RTCP multiplexing (RFC 5761 4), which is why Chromium uses it.
_DYNAMIC_PAYLOAD_TYPES = frozenset(range(35, 64)) | frozenset(range(96, 128))


def register_h264_high() -> None:
    """Add the High family (packetization-mode 1) to aiortc's codec table; idempotent.

    Also makes aiortc keep the offer's payload type numbers in 35-63 (process-wide,
    so WHIP answers benefit too).
    """
    aiortc.rtp.DYNAMIC_PAYLOAD_TYPES = _DYNAMIC_PAYLOAD_TYPES  # type: ignore[assignment]
    video = CODECS["video"]
    for plid in HIGH_FAMILY:
        if any(c.mimeType == "video/H264" and c.parameters == _parameters(plid) for c in video):
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
                parameters=_parameters(plid),
            )
        )
        rtx = RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=pt + 1, parameters={"apt": pt})
        video.append(rtx)


def video_preferences() -> list[RTCRtpCodecCapability]:
    """The High family in preference order, and RTX (NACKed packets resent on their own stream)."""
    register_h264_high()
    caps = RTCRtpSender.getCapabilities("video").codecs
    family = [
        c for plid in HIGH_FAMILY for c in caps if c.mimeType == "video/H264" and c.parameters == _parameters(plid)
    ]
    rtx = [c for c in caps if c.mimeType.lower() == "video/rtx"]
    return family + rtx


def audio_preferences() -> list[RTCRtpCodecCapability]:
    return [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType.lower() == "audio/opus"]


def profile_level_id(sps: bytes) -> str:
    """``profile-level-id`` (RFC 6184) of an SPS NAL: profile_idc, constraint flags, level_idc."""
    if len(sps) < 4:
        raise ValueError("SPS too short")
    return sps[1:4].hex()


def _payload_types(sdp: str, codec: str) -> list[str]:
    return re.findall(rf"^a=rtpmap:(\d+) {codec}/", sdp, flags=re.MULTILINE | re.IGNORECASE)


def describe_answer(sdp: str, h264_profile_level_id: str) -> str:
    """The answer aiortc wrote, with the encoder's real H.264 level and Opus marked stereo.

    The profile (and constraint flags) stay those of the offer's payload type.
    """
    level = h264_profile_level_id[4:6]
    for pt in _payload_types(sdp, "H264"):
        sdp = re.sub(
            rf"^(a=fmtp:{pt} .*?profile-level-id=[0-9a-fA-F]{{4}})[0-9a-fA-F]{{2}}",
            lambda m: m.group(1) + level,
            sdp,
            flags=re.MULTILINE,
        )
    for pt in _payload_types(sdp, "opus"):
        fmtp = re.search(rf"^a=fmtp:{pt} (.*)$", sdp, flags=re.MULTILINE)
        if fmtp is None:
            sdp = re.sub(
                rf"^(a=rtpmap:{pt} opus/48000/2)\r?$",
                rf"\1\r\na=fmtp:{pt} stereo=1;sprop-stereo=1\r",
                sdp,
                flags=re.MULTILINE | re.IGNORECASE,
            )
        elif "stereo=" not in fmtp.group(1):
            line = fmtp.group(0)
            cr = "\r" if line.endswith("\r") else ""
            sdp = sdp.replace(line, line.rstrip("\r") + ";stereo=1;sprop-stereo=1" + cr, 1)
    return sdp
