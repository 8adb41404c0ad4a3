"""One HLS segment being written: its own PyAV ``mpegts`` mux over a :class:`SegmentFile`.

Streams without encoders: ``add_stream("h264")`` makes an *encoder* context that PyAV opens at
the first mux (libx264 with its threads, just to copy bytes).  ``add_mux_stream`` makes a
codec-less stream: codec id, size and rate, nothing opened (opening a segment costs microseconds).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from fractions import Fraction

import av

from mixer.encodedpacket import ProgramFormat
from mixer.outputs.hlswindow import unlink
from mixer.outputs.tssegmentfile import SegmentFile

# FFmpeg CLI default (muxdelay 0.7 s): PCR runs 0.7 s ahead of DTS and all
# timestamps get +1.4 s, so AAC priming (pts -1024) can never go negative.
# The timed ID3 stream is sparse: without a small max_interleave_delta FFmpeg's interleaver would
# hold the whole segment in memory until it closes (it waits for a packet of every stream).
MUX_OPTIONS = {"max_delay": "700000", "avoid_negative_ts": "disabled", "max_interleave_delta": "50000"}


@dataclass(slots=True)
class OpenSegment:
    """A segment from its opening keyframe until it is listed (or dropped)."""

    sequence: int
    name: str
    file: SegmentFile
    container: av.container.OutputContainer
    video: av.stream.Stream
    audio: av.stream.Stream
    data: av.stream.Stream  # timed ID3 (stream_type 0x15): timed metadata cues
    start: Fraction  # pts of the opening keyframe, seconds
    program_date_time: float  # UNIX seconds of the opening keyframe
    discontinuity: bool

    @classmethod
    def open(
        cls,
        file: SegmentFile,
        fmt: ProgramFormat,
        *,
        sequence: int,
        start: Fraction,
        program_date_time: float,
        discontinuity: bool,
    ) -> OpenSegment:
        """Start muxing H.264 + AAC (ADTS) + timed ID3 into ``file``; on an FFmpeg error the file
        is closed and deleted and the error raised."""
        try:
            container = av.open(file, "w", format="mpegts", container_options=dict(MUX_OPTIONS))
            video = container.add_mux_stream("h264", rate=fmt.fps, width=fmt.width, height=fmt.height)
            video.time_base = fmt.video_time_base
            audio = container.add_mux_stream("aac", rate=fmt.sample_rate)
            audio.time_base = fmt.audio_time_base
            data = container.add_mux_stream("timed_id3")
            data.time_base = fmt.video_time_base
        except Exception:
            file.close()
            unlink(file.path)
            raise
        return cls(
            sequence=sequence,
            name=file.path.name,
            file=file,
            container=container,
            video=video,
            audio=audio,
            data=data,
            start=start,
            program_date_time=program_date_time,
            discontinuity=discontinuity,
        )

    def close(self) -> None:
        """Write the trailer (flushes the last PES) and close the file; on an error the file is
        deleted and the error raised."""
        try:
            self.container.close()
            self.file.close()
        except Exception:
            self.file.close()
            unlink(self.file.path)
            raise

    def discard(self) -> None:
        """Drop the segment after a mux or file error: close what can be closed, delete the file."""
        with contextlib.suppress(Exception):
            self.container.close()
        with contextlib.suppress(Exception):
            self.file.close()
        unlink(self.file.path)
