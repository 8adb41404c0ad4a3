"""The packet contract between the one program encode and every output."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import av

# "data": timed metadata (a UTF-8 JSON cue, see mixer/timedmetadata.py), stamped with the
# program clock pts of the frame it belongs to; only sinks with ``accepts_data`` get it.
Kind = Literal["video", "audio", "data"]


@dataclass(frozen=True, slots=True)
class ProgramFormat:
    """What the shared encoder produces; outputs build their muxers from it.

    Video is H.264 Annex B with SPS/PPS in-band on every keyframe (no global
    header: one encode feeding several muxers stays clean that way).  Audio is
    raw AAC-LC frames; ``audio_extradata`` is the AudioSpecificConfig.

    One timeline, the program clock's: video pts is the index of the tick
    that composed the frame (time base ``1/fps``), audio pts counts samples
    from the same tick 0.  Under overload frames are missing (pts skips a
    value), never late: pts seconds stay wall-clock seconds since tick 0.
    ``time_origin`` is the UNIX time of tick 0 (pts 0), so the wall time of
    any packet is ``time_origin + pts * time_base`` (HLS program date time);
    None when the packets do not come from a program clock.
    """

    width: int
    height: int
    fps: int
    sample_rate: int = 48000
    channels: int = 2
    video_bitrate: int = 2_500_000
    audio_bitrate: int = 128_000
    audio_extradata: bytes = b""
    time_origin: float | None = None

    @property
    def samples_per_tick(self) -> int:
        return self.sample_rate // self.fps

    @property
    def video_time_base(self) -> Fraction:
        return Fraction(1, self.fps)

    @property
    def audio_time_base(self) -> Fraction:
        return Fraction(1, self.sample_rate)


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """One encoded access unit, immutable so all outputs can share it.

    PyAV's ``mux`` empties the ``av.Packet`` it is given, so outputs that use a
    PyAV muxer call :meth:`to_av` for a private copy.
    """

    kind: Kind
    data: bytes
    pts: int
    dts: int
    time_base: Fraction
    keyframe: bool
    duration: int = 0

    @property
    def seconds(self) -> float:
        return float(self.pts * self.time_base)

    def to_av(self, stream: av.stream.Stream | None = None) -> av.Packet:
        packet = av.Packet(self.data)
        packet.pts = self.pts
        packet.dts = self.dts
        packet.time_base = self.time_base
        packet.is_keyframe = self.keyframe
        if self.duration:
            packet.duration = self.duration
        if stream is not None:
            packet.stream = stream
        return packet

    @classmethod
    def from_av(cls, kind: Kind, packet: av.Packet) -> EncodedPacket:
        assert packet.pts is not None and packet.time_base is not None
        return cls(
            kind=kind,
            data=bytes(packet),
            pts=packet.pts,
            dts=packet.dts if packet.dts is not None else packet.pts,
            time_base=packet.time_base,
            keyframe=packet.is_keyframe,
            duration=packet.duration or 0,
        )
