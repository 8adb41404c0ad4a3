"""The shared encode into one of FFmpeg's muxers (FLV over RTMP, fragmented MP4), without re-encoding.

The encoder keeps SPS/PPS in-band and has no global header (one encode feeding
several muxers stays clean that way), but FLV and MP4 want the codec setup up
front: an ``avcC`` record and the AAC AudioSpecificConfig as extradata, and
video samples with 4-byte NAL lengths instead of Annex B start codes.

PyAV cannot set extradata on a stream it creates.  So the codec parameters
come from a template: our own :class:`FlvMuxer` writes a tiny in-memory FLV
(header with the ``avcC`` built from the first keyframe's SPS/PPS, plus that
keyframe), PyAV opens it as input, and ``add_stream_from_template`` copies its
streams, extradata included, into the real output.  No codec is ever opened.
"""

from __future__ import annotations

import contextlib
import io
from fractions import Fraction
from typing import Any

import av

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.flvmuxer import FlvMuxer, amf0_cue_point
from mixer.outputs.h264 import NAL_AUD, NAL_FILLER, nal_type, split_annexb

_DROP = frozenset({NAL_AUD, NAL_FILLER})  # meaningless outside Annex B
INTERLEAVE_DELTA = "50000"  # microseconds a mux with a (sparse) data stream may hold packets back


def annexb_to_avcc(data: bytes) -> bytes:
    """Annex B access unit -> 4-byte length-prefixed NALs (SPS/PPS kept: every GOP stays self-contained)."""
    return b"".join(len(nal).to_bytes(4, "big") + nal for nal in split_annexb(data) if nal_type(nal) not in _DROP)


def template_input(fmt: ProgramFormat, keyframe: EncodedPacket) -> av.container.InputContainer:
    """An input container whose two streams carry the codec parameters of the program."""
    if keyframe.kind != "video" or not keyframe.keyframe:
        raise ValueError("templates are built from a video keyframe")
    muxer = FlvMuxer(fmt)
    tags = muxer.mux(keyframe)
    if muxer.header is None:
        raise ValueError("keyframe carries no SPS/PPS")
    return av.open(io.BytesIO(muxer.header + b"".join(t.data for t in tags)), "r", format="flv")


class Remux:
    """One output file or connection: opened on a keyframe, timestamps start at 0 there.

    Not thread-safe: one worker thread owns it.  ``open`` does no I/O; FFmpeg
    opens the target (file, or TCP + RTMP handshake) at the first ``write``.
    """

    def __init__(
        self,
        fmt: ProgramFormat,
        target: str,
        container_format: str,
        container_options: dict[str, str] | None = None,
        *,
        cues: bool = False,
    ) -> None:
        """``cues``: carry timed metadata (``data`` packets) as ``onCuePoint`` script tags (FLV only)."""
        self.fmt = fmt
        self.cues = cues and container_format == "flv"
        self._data: Any = None
        self.target = target
        self.container_format = container_format
        self.container_options = dict(container_options or {})
        if self.cues:
            # A sparse data stream makes FFmpeg's interleaver hold every packet until each stream
            # has one, i.e. up to max_interleave_delta (10 s by default): keep it to 50 ms.
            self.container_options.setdefault("max_interleave_delta", INTERLEAVE_DELTA)
        self._container: Any = None
        self._video: Any = None
        self._audio: Any = None
        self._video_origin = 0  # pts of the opening keyframe, video time base
        self._audio_origin = 0  # the same instant in audio samples
        self._last_audio_dts = -1
        self.start_seconds = 0.0  # program time of the opening keyframe
        self.last_seconds = 0.0  # program time of the last video frame written
        self.bytes_written = 0
        self.video_frames = 0

    @property
    def is_open(self) -> bool:
        return self._container is not None

    def open(self, keyframe: EncodedPacket) -> None:
        template = template_input(self.fmt, keyframe)
        try:
            container = av.open(
                self.target, "w", format=self.container_format, container_options=self.container_options
            )
            try:
                self._video = container.add_stream_from_template(template.streams.video[0])
                self._audio = container.add_stream_from_template(template.streams.audio[0])
                # FLV's audio flags always say 44.1 kHz for AAC (the real rate is in the
                # AudioSpecificConfig); MP4 takes its timescale from this field.
                self._audio.codec_context.sample_rate = self.fmt.sample_rate
                self._video.time_base = self.fmt.video_time_base
                self._audio.time_base = self.fmt.audio_time_base
                if self.cues:  # FFmpeg's flv muxer writes a codec-less data stream's packets as script tags
                    self._data = container.add_data_stream()
                    self._data.time_base = Fraction(1, 1000)
            except Exception:
                container.close()
                raise
        finally:
            template.close()
        self._container = container
        start = Fraction(keyframe.pts) * keyframe.time_base
        self._video_origin = keyframe.pts
        self._audio_origin = round(start / self.fmt.audio_time_base)
        self.start_seconds = self.last_seconds = float(start)

    def write(self, packet: EncodedPacket) -> int:
        """Mux one packet; returns the payload bytes written (0 if it had to be skipped)."""
        container = self._container
        assert container is not None, "open() first"
        if packet.kind == "data":
            return self._write_cue(packet)
        if packet.kind == "video":
            data = annexb_to_avcc(packet.data)
            out = av.Packet(data)
            out.pts = packet.pts - self._video_origin
            out.dts = packet.dts - self._video_origin
            out.time_base = packet.time_base
            out.is_keyframe = packet.keyframe
            if packet.duration:
                out.duration = packet.duration
            out.stream = self._video
            if out.dts < 0:
                return 0
            container.mux(out)
            self.video_frames += 1
            self.last_seconds = float(Fraction(packet.pts) * packet.time_base)
        else:
            origin = round(Fraction(self._audio_origin) * self.fmt.audio_time_base / packet.time_base)
            dts = packet.dts - origin
            # Audio from before the opening keyframe, or repeated: the muxer would refuse it.
            if dts < 0 or dts <= self._last_audio_dts:
                return 0
            self._last_audio_dts = dts
            out = packet.to_av(self._audio)
            out.pts = packet.pts - origin
            out.dts = dts
            data = packet.data
            container.mux(out)
        self.bytes_written += len(data)
        return len(data)

    def _write_cue(self, packet: EncodedPacket) -> int:
        if self._data is None:
            return 0
        ms = round(
            (Fraction(packet.pts) * packet.time_base - Fraction(self._video_origin) * self.fmt.video_time_base) * 1000
        )
        if ms < 0:
            return 0
        text = packet.data.decode()
        body = amf0_cue_point(text, ms / 1000)
        out = av.Packet(body)
        out.pts = out.dts = ms
        out.time_base = Fraction(1, 1000)
        out.stream = self._data
        self._container.mux(out)
        self.bytes_written += len(body)
        return len(body)

    def close(self) -> None:
        """Write the trailer and close; errors are swallowed (the target may be gone)."""
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(Exception):
                container.close()
