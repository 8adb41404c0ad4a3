"""The HLS segmenter: one program's packets cut into MPEG-TS segments on keyframes, listed in the window.

A segment closes at the first keyframe at least ``segment_seconds`` (less half a frame) after
the one that opened it.  A backwards or big forward jump of the video timestamps is a new
timeline: the segment before it ends where its media ended, the next one is tagged
``EXT-X-DISCONTINUITY`` and the program date time is anchored anew (it never goes back).  A mux
or file error drops the open segment only; the next keyframe starts clean.  Program date time
follows the program clock (``ProgramFormat.time_origin``), not the packets' arrival.
Used by the HLS output's worker thread only.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from mixer import timedmetadata
from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.adts import is_adts
from mixer.outputs.hlsplaylist import PlaylistSegment
from mixer.outputs.hlssegment import OpenSegment
from mixer.outputs.hlswindow import HlsWindow, unlink
from mixer.outputs.id3 import id3_tag
from mixer.outputs.ratemeter import RateMeter
from mixer.outputs.tssegmentfile import ContinuityCounters, SegmentFile

log = logging.getLogger(__name__)

ErrorSink = Callable[[Exception, str], None]  # (error, context): counted and logged by the output

DATERANGE_CLASS = "broadcast.cue"


class HlsSegmenter:
    """Packets in (:meth:`handle`), segment files and playlist updates out, into ``window``.

    ``segment_seconds`` > 0: the target length; ``on_error(exc, context)`` is told of every
    error that cost media (nothing here raises out of :meth:`handle`).  Set ``fmt`` (and
    ``adts``, the ADTS header maker for raw AAC, or None) before the first packet.
    """

    def __init__(self, directory: Path, segment_seconds: float, window: HlsWindow, on_error: ErrorSink) -> None:
        self.directory = directory
        self._window = window
        self._on_error = on_error
        self._segment_length = Fraction(segment_seconds).limit_denominator(1000)
        self._max_gap = max(3 * self._segment_length, Fraction(5))  # beyond it: a new timeline
        self.fmt: ProgramFormat | None = None
        self.adts: Callable[[int], bytes] | None = None
        self._run_id = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(2)
        self.current: OpenSegment | None = None
        self._counters = ContinuityCounters()
        self.discontinuity_next = False
        self._anchor: tuple[Fraction, float] | None = None  # (pts s, UNIX s) of this timeline
        self._last_video_end: Fraction | None = None
        self._last_audio_dts: Fraction | None = None
        self._warned_audio = False
        # counters read by status() from other threads (plain ints: atomic enough)
        self.segments_written = 0
        self.bytes_written = 0
        self.skipped_packets = 0  # before the first keyframe / after an error
        self.cues_written = 0  # timed metadata (ID3 + EXT-X-DATERANGE)
        self.meter = RateMeter()  # what went into segments

    def handle(self, packet: EncodedPacket, arrival: float) -> None:
        """Mux one packet (``arrival``: UNIX seconds it came, the date when the format has no
        ``time_origin``); an error drops the open segment and is reported, never raised."""
        try:
            if packet.kind == "video":
                self._handle_video(packet, arrival)
            elif packet.kind == "data":
                self._handle_data(packet)
            else:
                self._handle_audio(packet)
        except Exception as exc:
            self._fail(exc, f"{packet.kind} packet pts={packet.pts} dts={packet.dts}")

    def _handle_video(self, packet: EncodedPacket, arrival: float) -> None:
        t = packet.pts * packet.time_base
        if packet.keyframe:
            current = self.current
            last_end = self._last_video_end
            if current is None:
                self._open_segment(t, arrival)
            else:
                # A backwards or big forward jump is a new timeline, not a long segment.
                jump = last_end is not None and (t < last_end - Fraction(1, 1000) or t - last_end > self._max_gap)
                if jump:
                    log.warning("hls: video timestamps jumped from %.3f to %.3f s", last_end, t)
                    self.finish_segment(last_end)
                    self.discontinuity_next = True
                    self._anchor = None
                    self._open_segment(t, arrival)
                elif t - current.start >= self._segment_length - self._half_frame():
                    self.finish_segment(t)
                    self._open_segment(t, arrival)
        current = self.current
        if current is None:  # waiting for a keyframe
            self.skipped_packets += 1
            return
        current.container.mux(packet.to_av(current.video))
        self.meter.add(len(packet.data), 1)
        frame = packet.duration * packet.time_base if packet.duration else 2 * self._half_frame()
        self._last_video_end = t + frame

    def _handle_audio(self, packet: EncodedPacket) -> None:
        current = self.current
        dts = packet.dts * packet.time_base
        if current is None or (self._last_audio_dts is not None and dts <= self._last_audio_dts):
            # A repeated/late audio frame would be a muxer error costing the whole segment.
            self.skipped_packets += 1
            return
        self._last_audio_dts = dts
        data = packet.data
        if not is_adts(data):
            if self.adts is None:
                if not self._warned_audio:
                    self._warned_audio = True
                    self._on_error(ValueError("raw AAC but no usable AudioSpecificConfig: audio dropped"), "")
                self.skipped_packets += 1
                return
            packet = replace(packet, data=self.adts(len(data)) + data)
        current.container.mux(packet.to_av(current.audio))
        self.meter.add(len(packet.data))

    def _handle_data(self, packet: EncodedPacket) -> None:
        """A cue: an ID3 PES in the segment at its frame's pts, and an EXT-X-DATERANGE at its date."""
        current, anchor = self.current, self._anchor
        if current is None or anchor is None:
            self.skipped_packets += 1
            return
        text = packet.data.decode()
        current.container.mux(replace(packet, data=id3_tag(text)).to_av(current.data))
        start = anchor[1] + float(packet.pts * packet.time_base - anchor[0])
        self._window.playlist.dateranges.append(timedmetadata.daterange(packet, start, DATERANGE_CLASS))
        self.cues_written += 1

    def _half_frame(self) -> Fraction:
        fps = self.fmt.fps if self.fmt is not None and self.fmt.fps > 0 else 30
        return Fraction(1, 2 * fps)

    def _open_segment(self, start: Fraction, arrival: float) -> None:
        fmt = self.fmt
        assert fmt is not None
        discontinuity = self.discontinuity_next
        if self._anchor is None:  # a new timeline: program date time follows media time from here
            # ...and never goes back, even when a restart comes sooner than the old media ran.
            floor = self._window.date_floor()
            # Program packets carry the clock's own time (tick 0 at time_origin): the date is the
            # wall time the frame was composed at, not when it got here (queues, encode).
            wall = fmt.time_origin + float(start) if fmt.time_origin is not None else arrival
            self._anchor = (start, max(wall, floor))
            self._counters = ContinuityCounters()
            self._last_audio_dts = None
        anchor_t, anchor_wall = self._anchor
        sequence = self._window.playlist.next_sequence
        name = f"{self._run_id}-{sequence:06d}.ts"
        self.directory.mkdir(parents=True, exist_ok=True)  # cheap; heals a directory removed under us
        self.current = OpenSegment.open(
            SegmentFile(self.directory / name, self._counters),
            fmt,
            sequence=sequence,
            start=start,
            program_date_time=anchor_wall + float(start - anchor_t),
            discontinuity=discontinuity,
        )
        self.discontinuity_next = False

    def finish_segment(self, end: Fraction | None) -> None:
        """Close the open segment (ending at ``end``, or after its last frame) and list it."""
        current = self.current
        if current is None:
            return
        self.current = None
        end = end if end is not None else self._last_video_end
        current.close()
        duration = float(end - current.start) if end is not None else 0.0
        if duration <= 0:
            unlink(current.file.path)
            return
        self._window.add(
            PlaylistSegment(current.sequence, current.name, duration, current.program_date_time, current.discontinuity)
        )
        self.segments_written += 1
        self.bytes_written += current.file.size
        try:
            self._window.publish()
        except OSError as exc:  # the media timeline is fine; the next segment retries
            self._on_error(exc, "")
        self._window.delete_expired()

    def _fail(self, exc: Exception, context: str) -> None:
        """A mux or file error: drop the open segment, start clean at the next keyframe.

        The timeline goes on (same clock, same program date time anchor); only
        the listed segments have a hole, which the DISCONTINUITY tag announces.
        """
        self._on_error(exc, context)
        current = self.current
        self.current = None
        if current is not None:
            current.discard()
        # The listed segments stop where the dropped one began: mark the seam.
        self.discontinuity_next = bool(self._window.playlist.segments)
