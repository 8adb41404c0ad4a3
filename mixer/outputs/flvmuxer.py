"""A hand-written FLV writer for H.264 (Annex B in) and AAC (raw frames in).

Pure byte work, no I/O and no PyAV muxer: HTTP-FLV fan-out needs exact control
of tag boundaries so a late viewer can be started on a cached keyframe tag, and
each tag is built once and shared by every reader.

Layout written (Adobe FLV spec v10.1, annex E):

    header = file header | onMetaData | AVC sequence header | AAC sequence header
    tags   = one video tag per frame (AVCC, 4-byte lengths) | one audio tag per AAC frame
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from mixer.encodedpacket import EncodedPacket, ProgramFormat

TAG_AUDIO = 8
TAG_VIDEO = 9
TAG_SCRIPT = 18

CODEC_AVC = 7
CODEC_AAC = 10

NAL_SLICE = 1
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9
NAL_FILLER = 12

# Profiles whose SPS carries chroma/bit-depth fields; ISO 14496-15 wants them
# repeated at the end of the avcC for these.
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})

# AAC sample-rate index table (ISO 14496-3, 1.6.3.4).
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)

_TAG_HEADER = struct.Struct(">B3sI3s")  # type, size (24 bit), timestamp (24 + 8 bit ext), stream id
_U32 = struct.Struct(">I")
_STREAM_ID = b"\x00\x00\x00"
_START_CODE = b"\x00\x00\x01"

# First bytes of the tag bodies.  AAC always says 44 kHz/16 bit/stereo in the
# flags byte (the real values are in the AudioSpecificConfig).
_AUDIO_SEQ = bytes([(CODEC_AAC << 4) | 0x0F, 0])
_AUDIO_RAW = bytes([(CODEC_AAC << 4) | 0x0F, 1])
_VIDEO_SEQ = bytes([(1 << 4) | CODEC_AVC, 0, 0, 0, 0])
_VIDEO_KEY = bytes([(1 << 4) | CODEC_AVC, 1, 0, 0, 0])  # composition time 0: no B-frames
_VIDEO_INTER = bytes([(2 << 4) | CODEC_AVC, 1, 0, 0, 0])


class FlvError(ValueError):
    """Input the muxer cannot turn into FLV (e.g. a keyframe without SPS/PPS)."""


# --- Annex B / H.264 helpers -------------------------------------------------


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex B access unit, start codes removed.

    Emulation prevention guarantees 00 00 01 never occurs inside a NAL, so a
    plain split is exact; trailing zeros belong to the next 4-byte start code
    (a NAL's last byte is never 0 thanks to its rbsp trailing bits).
    """
    parts = data.split(_START_CODE)
    return [p.rstrip(b"\x00") for p in parts[1:] if p.strip(b"\x00")]


def nal_type(nal: bytes) -> int:
    return nal[0] & 0x1F


def _unescape(nal: bytes) -> bytes:
    """RBSP of a NAL: drop emulation-prevention 03 bytes."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


class _BitReader:
    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = len(data) * 8

    def bits(self, n: int) -> int:
        if n > self._left:
            raise FlvError("truncated SPS")
        self._left -= n
        return (self._value >> self._left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.bits(1) == 0:
            zeros += 1
            if zeros > 31:
                raise FlvError("bad exp-Golomb code in SPS")
        return (1 << zeros) - 1 + self.bits(zeros)


def avc_decoder_config(sps_list: list[bytes], pps_list: list[bytes]) -> bytes:
    """AVCDecoderConfigurationRecord (ISO 14496-15, 5.2.4.1) with 4-byte NAL lengths."""
    if not sps_list or not pps_list:
        raise FlvError("AVC sequence header needs at least one SPS and one PPS")
    sps = sps_list[0]
    if len(sps) < 4:
        raise FlvError("SPS too short")
    profile, compat, level = sps[1], sps[2], sps[3]
    out = bytearray([1, profile, compat, level, 0xFC | 3, 0xE0 | len(sps_list)])
    for s in sps_list:
        out += len(s).to_bytes(2, "big") + s
    out.append(len(pps_list))
    for p in pps_list:
        out += len(p).to_bytes(2, "big") + p
    if profile in _HIGH_PROFILES:
        reader = _BitReader(_unescape(sps[4:]))
        reader.ue()  # seq_parameter_set_id
        chroma_format = reader.ue()
        if chroma_format == 3:
            reader.bits(1)  # separate_colour_plane_flag
        depth_luma = reader.ue()
        depth_chroma = reader.ue()
        out += bytes([0xFC | chroma_format, 0xF8 | depth_luma, 0xF8 | depth_chroma, 0])  # 0 SPS-ext
    return bytes(out)


def audio_specific_config(sample_rate: int, channels: int) -> bytes:
    """AAC-LC AudioSpecificConfig, used when the encoder gave no extradata."""
    try:
        index = _AAC_RATES.index(sample_rate)
    except ValueError:
        raise FlvError(f"no AAC sample-rate index for {sample_rate} Hz") from None
    value = (2 << 11) | (index << 7) | (channels << 3)  # object type 2 = AAC-LC
    return value.to_bytes(2, "big")


# --- AMF0 (onMetaData) -------------------------------------------------------


def _amf_string(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def _amf_value(value: object) -> bytes:
    if value is None:
        return b"\x05"
    if isinstance(value, dict):  # an anonymous object: key/value pairs, then the end marker
        return b"\x03" + b"".join(_amf_string(str(k)) + _amf_value(v) for k, v in value.items()) + b"\x00\x00\x09"
    if isinstance(value, bool):  # before int: bool is an int
        return bytes([1, int(value)])
    if isinstance(value, int | float):
        return b"\x00" + struct.pack(">d", float(value))
    if isinstance(value, str):
        return b"\x02" + _amf_string(value)
    raise TypeError(f"unsupported AMF0 value {value!r}")


def amf0_metadata(fields: dict[str, object]) -> bytes:
    """Body of an ``onMetaData`` script tag: name, then an ECMA array."""
    out = bytearray(b"\x02" + _amf_string("onMetaData"))
    out += b"\x08" + len(fields).to_bytes(4, "big")
    for key, value in fields.items():
        out += _amf_string(key) + _amf_value(value)
    out += b"\x00\x00\x09"  # object end marker
    return bytes(out)


CUE_POINT = "onCuePoint"


def amf0_cue_point(event: str, seconds: float, payload: str) -> bytes:
    """Body of the script tag that carries a timed metadata cue (mixer/timedmetadata.py).

    ``onCuePoint`` with the shape Flash event cue points had (``name``, ``time``,
    ``type: "event"``, ``parameters``); the cue itself is JSON text in
    ``parameters.json``, so readers need no AMF object mapping of their own.
    """
    cue = {"name": event, "time": seconds, "type": "event", "parameters": {"json": payload}}
    return b"\x02" + _amf_string(CUE_POINT) + _amf_value(cue)


# --- tags ----------------------------------------------------------------------


FILE_HEADER = b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00\x00\x00\x00"  # audio+video, PreviousTagSize0


def tag(tag_type: int, timestamp_ms: int, body: Iterable[bytes]) -> bytes:
    """One tag and its trailing PreviousTagSize, as a single bytes object."""
    parts = list(body)
    size = sum(len(p) for p in parts)
    ts = timestamp_ms & 0xFFFFFFFF
    head = _TAG_HEADER.pack(tag_type, size.to_bytes(3, "big"), ((ts & 0xFFFFFF) << 8) | (ts >> 24), _STREAM_ID)
    return b"".join((head, *parts, _U32.pack(size + 11)))


@dataclass(frozen=True, slots=True)
class FlvTag:
    """A muxed tag; ``keyframe`` marks video keyframes (GOP starts)."""

    data: bytes
    kind: str
    timestamp: int
    keyframe: bool


class FlvMuxer:
    """Turns :class:`EncodedPacket` s into FLV tags; the header is known after the first keyframe.

    Video: Annex B becomes 4-byte length-prefixed NALs.  AUD and filler NALs
    are dropped (meaningless in FLV), SPS/PPS are KEPT in keyframes: they are
    also in the sequence header, but in-band copies keep every GOP
    self-contained (what FFmpeg's own flv muxer writes for this encoder and
    what decoded cleanly here), and a decoder that joins on a cached GOP or a
    changed SPS recovers without a new sequence header.  Set
    ``keep_parameter_sets=False`` to strip them.

    Timestamps are the program clock in ms (pts * time_base, rounded), clamped
    per stream so they never go backwards.
    """

    def __init__(self, fmt: ProgramFormat, *, keep_parameter_sets: bool = True, encoder: str = "") -> None:
        self.fmt = fmt
        self.keep_parameter_sets = keep_parameter_sets
        self.encoder = encoder or "broadcast-orchestrator"
        self.header: bytes | None = None  # set by the first keyframe
        self._avc_config: bytes | None = None
        self._asc = fmt.audio_extradata or audio_specific_config(fmt.sample_rate, fmt.channels)
        self._last_ts = {"video": 0, "audio": 0, "data": 0}
        self._drop = {NAL_AUD, NAL_FILLER}
        if not keep_parameter_sets:
            self._drop |= {NAL_SPS, NAL_PPS}

    def metadata(self) -> bytes:
        fmt = self.fmt
        return amf0_metadata(
            {
                "duration": 0.0,
                "width": fmt.width,
                "height": fmt.height,
                "framerate": fmt.fps,
                "videocodecid": CODEC_AVC,
                "videodatarate": fmt.video_bitrate / 1000,
                "audiocodecid": CODEC_AAC,
                "audiosamplerate": fmt.sample_rate,
                "audiosamplesize": 16,
                "stereo": fmt.channels == 2,
                "audiodatarate": fmt.audio_bitrate / 1000,
                "encoder": self.encoder,
            }
        )

    def _timestamp(self, packet: EncodedPacket) -> int:
        tb = packet.time_base
        # Integer maths: Fraction arithmetic costs ~10x more per packet.
        ms = (packet.pts * tb.numerator * 1000 * 2 + tb.denominator) // (2 * tb.denominator)
        last = self._last_ts[packet.kind]
        if ms < last:
            ms = last
        self._last_ts[packet.kind] = ms
        return ms

    def mux(self, packet: EncodedPacket) -> list[FlvTag]:
        """Tags for one packet: none before the first keyframe, an extra
        sequence-header tag when the SPS/PPS change."""
        if packet.kind == "data":
            if self.header is None:
                return []
            ts = self._timestamp(packet)
            text = packet.data.decode()
            event = str(json.loads(text).get("event", "cue"))
            cue = amf0_cue_point(event, ts / 1000, text)
            return [FlvTag(tag(TAG_SCRIPT, ts, (cue,)), "data", ts, False)]
        if packet.kind == "audio":
            if self.header is None:
                return []  # a stream must open on a video keyframe
            ts = self._timestamp(packet)
            return [FlvTag(tag(TAG_AUDIO, ts, (_AUDIO_RAW, packet.data)), "audio", ts, False)]

        nals = split_annexb(packet.data)
        out: list[FlvTag] = []
        if packet.keyframe:
            sps = [n for n in nals if nal_type(n) == NAL_SPS]
            pps = [n for n in nals if nal_type(n) == NAL_PPS]
            if sps and pps:
                config = avc_decoder_config(sps, pps)
                if config != self._avc_config:
                    first = self._avc_config is None
                    self._avc_config = config
                    self.header = self._build_header(config)
                    if not first:  # mid-stream change: players need the new record in-band too
                        ts = self._timestamp(packet)
                        out.append(FlvTag(tag(TAG_VIDEO, ts, (_VIDEO_SEQ, config)), "video", ts, False))
            elif self._avc_config is None:
                raise FlvError("first keyframe carries no SPS/PPS (encoder set to global header?)")
        if self.header is None:
            return []
        ts = self._timestamp(packet)
        body: list[bytes] = [_VIDEO_KEY if packet.keyframe else _VIDEO_INTER]
        drop = self._drop
        for nal in nals:
            if nal_type(nal) not in drop:
                body.append(_U32.pack(len(nal)))
                body.append(nal)
        out.append(FlvTag(tag(TAG_VIDEO, ts, body), "video", ts, packet.keyframe))
        return out

    def _build_header(self, avc_config: bytes) -> bytes:
        return b"".join(
            (
                FILE_HEADER,
                tag(TAG_SCRIPT, 0, (self.metadata(),)),
                tag(TAG_VIDEO, 0, (_VIDEO_SEQ, avc_config)),
                tag(TAG_AUDIO, 0, (_AUDIO_SEQ, self._asc)),
            )
        )
