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
from mixer.outputs import amf0
from mixer.outputs.h264 import NAL_AUD, NAL_FILLER, NAL_PPS, NAL_SPS, avc_decoder_config, nal_type, split_annexb

TAG_AUDIO = 8
TAG_VIDEO = 9
TAG_SCRIPT = 18

CODEC_AVC = 7
CODEC_AAC = 10

# AAC sample-rate index table (ISO 14496-3, 1.6.3.4).
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)

_TAG_HEADER = struct.Struct(">B3sI3s")  # type, size (24 bit), timestamp (24 + 8 bit ext), stream id
_U32 = struct.Struct(">I")
_STREAM_ID = b"\x00\x00\x00"

# First bytes of the tag bodies.  AAC always says 44 kHz/16 bit/stereo in the
# flags byte (the real values are in the AudioSpecificConfig).
_AUDIO_SEQ = bytes([(CODEC_AAC << 4) | 0x0F, 0])
_AUDIO_RAW = bytes([(CODEC_AAC << 4) | 0x0F, 1])
_VIDEO_SEQ = bytes([(1 << 4) | CODEC_AVC, 0, 0, 0, 0])
_VIDEO_KEY = bytes([(1 << 4) | CODEC_AVC, 1, 0, 0, 0])  # composition time 0: no B-frames
_VIDEO_INTER = bytes([(2 << 4) | CODEC_AVC, 1, 0, 0, 0])


class FlvError(ValueError):
    """Input the muxer cannot turn into FLV (e.g. a keyframe without SPS/PPS)."""


def audio_specific_config(sample_rate: int, channels: int) -> bytes:
    """AAC-LC AudioSpecificConfig, used when the encoder gave no extradata."""
    try:
        index = _AAC_RATES.index(sample_rate)
    except ValueError:
        raise FlvError(f"no AAC sample-rate index for {sample_rate} Hz") from None
    value = (2 << 11) | (index << 7) | (channels << 3)  # object type 2 = AAC-LC
    return value.to_bytes(2, "big")


# --- script tags (AMF0) ---------------------------------------------------------


def amf0_metadata(fields: dict[str, object]) -> bytes:
    """Body of an ``onMetaData`` script tag: name, then an ECMA array."""
    return amf0.encode("onMetaData") + amf0.ecma_array(fields)


CUE_POINT = "onCuePoint"


def amf0_cue_point(payload: str, seconds: float) -> bytes:
    """Body of the script tag that carries a timed metadata cue (mixer/timedmetadata.py) at
    ``seconds`` on the stream's timeline; ValueError if ``payload`` is not a JSON object.

    ``onCuePoint`` with the shape Flash event cue points had (``name``: the cue's event, ``time``,
    ``type: "event"``, ``parameters``); the cue itself is JSON text in ``parameters.json``, so
    readers need no AMF object mapping of their own.
    """
    event = str(json.loads(payload).get("event", "cue"))
    return amf0.encode(CUE_POINT, {"name": event, "time": seconds, "type": "event", "parameters": {"json": payload}})


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
            cue = amf0_cue_point(packet.data.decode(), ts / 1000)
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
