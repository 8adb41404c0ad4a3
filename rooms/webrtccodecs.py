"""What WHEP viewers are offered: the program's own H.264 High, else a shared VP8 or Constrained Baseline encode.

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

A viewer that offers none of these (Firefox without OpenH264: VP8/VP9/AV1;
aiortc and Safari-style offers: VP8 and Constrained Baseline) gets a second,
shared encode of the program in a codec it offers (:func:`choose_video`):
VP8, or H.264 Constrained Baseline (which Baseline receivers decode too).
Packetization-mode 1 only: aiortc's packetizer sends single NAL, STAP-A and
FU-A packets.  The answer keeps the offer's profile (RFC 6184 8.2.2) and names
the real level of what is sent; Opus is marked stereo.

The High family entries are added to aiortc's table by
:func:`rooms.compat.install` (rooms/compat/aiortccodecs.py); they are inert for
WHIP ingest (the publisher's order picks the codec there).
"""

from __future__ import annotations

import re
from collections.abc import Collection

from aiortc.codecs import CODECS
from aiortc.rtcpeerconnection import is_codec_compatible
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.sdp import SessionDescription

from mixer.outputs.viewercodec import ViewerCodec
from rooms import compat
from rooms.compat import HIGH_FAMILY, h264_parameters

# aiortc's own entries (Baseline, Constrained Baseline); a CB stream decodes on both.
BASELINE_FAMILY = ("42e01f", "42001f")


# A viewer able to take several gets the first of these (after one already running).
_FALLBACK_ORDER = (ViewerCodec.VP8, ViewerCodec.H264_CB)


def _h264(codecs: list[RTCRtpCodecParameters], family: tuple[str, ...]) -> list[RTCRtpCodecParameters]:
    return [
        c for plid in family for c in codecs if c.mimeType == "video/H264" and c.parameters == h264_parameters(plid)
    ]


def _local_codecs(codec: ViewerCodec) -> list[RTCRtpCodecParameters]:
    """aiortc's table entries that send ``codec``, in preference order."""
    table = CODECS["video"]
    if codec is ViewerCodec.PROGRAM:
        return _h264(table, HIGH_FAMILY)
    if codec is ViewerCodec.H264_CB:
        return _h264(table, BASELINE_FAMILY)
    return [c for c in table if c.mimeType.lower() == "video/vp8"]


def video_preferences(codec: ViewerCodec = ViewerCodec.PROGRAM) -> list[RTCRtpCodecCapability]:
    """The codec's entries in preference order, and RTX (NACKed packets resent on their own stream)."""
    compat.install()
    wanted = [(c.mimeType, c.parameters) for c in _local_codecs(codec)]
    caps = RTCRtpSender.getCapabilities("video").codecs
    chosen = [c for key in wanted for c in caps if (c.mimeType, c.parameters) == key]
    rtx = [c for c in caps if c.mimeType.lower() == "video/rtx"]
    return chosen + rtx


def offered_video_codecs(offer_sdp: str) -> list[RTCRtpCodecParameters]:
    """The first video section's codecs; [] if the offer has none.  ValueError if it does not parse."""
    for media in SessionDescription.parse(offer_sdp).media:
        if media.kind == "video":
            return list(media.rtp.codecs)
    return []


def choose_video(offer_sdp: str, running: Collection[ViewerCodec] = ()) -> ViewerCodec | None:
    """What this viewer's video will be, by aiortc's own matching rules (so the answer agrees).

    The program's packets when the offer can decode H.264 High; else a second encode the
    offer takes, one already ``running`` first (never a second extra encode when one
    will do), then VP8, then Constrained Baseline.  ``None`` when the offer has no video
    section.  Raises ``LookupError`` (message for the client) when it offers none of
    these, and ``ValueError`` when the SDP does not parse.
    """
    compat.install()
    offered = offered_video_codecs(offer_sdp)
    if not offered:
        return None

    def takes(codec: ViewerCodec) -> bool:
        return any(is_codec_compatible(local, remote) for local in _local_codecs(codec) for remote in offered)

    if takes(ViewerCodec.PROGRAM):
        return ViewerCodec.PROGRAM
    usable = [c for c in _FALLBACK_ORDER if takes(c)]
    for codec in usable:
        if codec in running:
            return codec
    if usable:
        return usable[0]
    names = sorted({c.mimeType.split("/")[-1] for c in offered if c.mimeType.lower() != "video/rtx"})
    raise LookupError(
        f"the offer's video codecs ({', '.join(names) or 'none'}) include none this endpoint sends: "
        "H.264 High (profile-level-id 64xxxx, f4xxxx or 640cxx), VP8, or H.264 Constrained Baseline/Baseline "
        "(42e0xx, 42xxxx), each with packetization-mode=1"
    )


def audio_preferences() -> list[RTCRtpCodecCapability]:
    return [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType.lower() == "audio/opus"]


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
