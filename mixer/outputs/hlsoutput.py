"""HLS origin output: MPEG-TS segments cut on keyframes and an RFC 8216 live playlist.

Why our own segmenter instead of FFmpeg's ``hls`` muxer: the playlist rules we
need are ones that muxer does not keep.  It never writes
``EXT-X-DISCONTINUITY-SEQUENCE`` (after an ``append_list`` restart the
discontinuity numbering breaks once the tagged segment slides out), it derives
``EXT-X-TARGETDURATION`` from the segments in the window (so it can change; RFC
8216 6.2.1 says it must not), by default it deletes a segment one segment after
it leaves the playlist (6.2.2 wants it served for its duration plus a
playlist's), and its state (segments written, media sequence, errors) is
invisible to us.  Here each segment is its own PyAV ``mpegts`` mux (opening one
costs microseconds) and the playlist is ours (:mod:`mixer.outputs.hlsplaylist`):
a few lines of text, replaced atomically.

Two details make independent per-segment muxes look like one continuous TS:

* Continuity counters: every new mpegts mux starts each PID's 4-bit counter at
  0, and FFmpeg's HLS demuxer then flags the last frame of every segment as
  corrupt.  :class:`~mixer.outputs.tssegmentfile.ContinuityCounters` renumbers
  the counters as the bytes are written, exactly as a single long-running mux
  would have numbered them.
* Streams without encoders: ``add_stream("h264")`` makes an *encoder* context
  that PyAV opens at the first mux (libx264 with its threads, just to copy
  bytes).  ``add_mux_stream`` makes a codec-less stream: codec id, size and
  rate, nothing opened.  It cannot carry AAC extradata, and the TS muxer needs
  either extradata or ADTS framing, so audio frames get the 7-byte ADTS header
  built from the AudioSpecificConfig (:mod:`mixer.outputs.adts`).  Video needs
  nothing: SPS/PPS are in-band on every keyframe.

Threads: :meth:`HlsOutput.put` runs in the encoder thread and only appends to a
bounded :class:`~mixer.outputs.packetqueue.PacketQueue`; one worker thread per
output muxes, writes files and deletes old segments.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.adts import adts_framer, is_adts
from mixer.outputs.hlsplaylist import DateRange, Playlist, PlaylistSegment, parse_playlist, write_atomically
from mixer.outputs.id3 import id3_tag
from mixer.outputs.packetqueue import PacketQueue
from mixer.outputs.ratemeter import RateMeter
from mixer.outputs.sink import Sink
from mixer.outputs.tssegmentfile import ContinuityCounters, SegmentFile
from mixer.outputs.worker import join_worker, offer

log = logging.getLogger(__name__)

PLAYLIST_NAME = "index.m3u8"
# Names we create (and the only ones the HLS view serves): no dots but the suffix, no slashes.
# (The playlist's temporary file while it is replaced, ".index.m3u8.tmp", is neither.)
SEGMENT_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,95}\.ts")

_POLL_SECONDS = 0.1  # worker batch interval: adds <= 0.1 s to a 2 s segment's publication
# FFmpeg CLI default (muxdelay 0.7 s): PCR runs 0.7 s ahead of DTS and all
# timestamps get +1.4 s, so AAC priming (pts -1024) can never go negative.
# The timed ID3 stream is sparse: without a small max_interleave_delta FFmpeg's interleaver would
# hold the whole segment in memory until it closes (it waits for a packet of every stream).
_MUX_OPTIONS = {"max_delay": "700000", "avoid_negative_ts": "disabled", "max_interleave_delta": "50000"}


# --- the output ---------------------------------------------------------------------


@dataclass(slots=True)
class _OpenSegment:
    sequence: int
    name: str
    file: SegmentFile
    container: av.container.OutputContainer
    video: av.stream.Stream
    audio: av.stream.Stream
    data: av.stream.Stream  # timed ID3 (stream_type 0x15): timed metadata cues
    start: Fraction  # pts of the opening keyframe, seconds
    program_date_time: float
    discontinuity: bool


class HlsOutput(Sink):
    """Live HLS into ``directory`` (``index.m3u8`` + ``*.ts``); served by ``orchestrator/views/live.py``.

    The directory belongs to this output: on start, segment files that the old
    playlist does not list are treated as expired and deleted after the grace
    period.  ``retain_extra`` segments stay on disk after leaving the playlist
    (default ``window + 1``: RFC 8216 6.2.2 wants a removed segment available
    for its duration plus the playlist's), so disk holds at most
    ``window + retain_extra`` segments.
    """

    name = "hls"
    accepts_data = True
    DATERANGE_CLASS = "broadcast.cue"

    def __init__(
        self,
        directory: Path,
        segment_seconds: float = 2.0,
        window: int = 6,
        *,
        retain_extra: int | None = None,
        queue_size: int = 512,
        end_list_on_close: bool = False,
    ) -> None:
        if segment_seconds <= 0 or window < 1:
            raise ValueError("segment_seconds must be > 0 and window >= 1")
        self.directory = Path(directory)
        self.segment_seconds = segment_seconds
        self.window = window
        self.retain_extra = window + 1 if retain_extra is None else max(0, retain_extra)
        self.end_list_on_close = end_list_on_close
        self._abandoned = False
        self._segment_length = Fraction(segment_seconds).limit_denominator(1000)
        self._max_gap = max(3 * self._segment_length, Fraction(5))  # beyond it: a new timeline
        # The worker polls (10 Hz) rather than being woken per packet: a wake-up per
        # packet cost 5x the muxing itself.  Only a filling queue wakes it early.
        self._queue = PacketQueue(queue_size, wake_at=queue_size // 4)
        self._thread: threading.Thread | None = None
        self._fmt: ProgramFormat | None = None
        self._adts: Callable[[int], bytes] | None = None
        # worker state
        self._run_id = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(2)
        self._playlist = Playlist(target_duration=max(1, math.ceil(segment_seconds)))
        self._expired: deque[str] = deque()  # left the playlist, deleted after the grace
        self._current: _OpenSegment | None = None
        self._counters = ContinuityCounters()
        self._discontinuity_next = False
        self._anchor: tuple[Fraction, float] | None = None  # (pts s, UNIX s) of this timeline
        self._last_video_end: Fraction | None = None
        self._last_audio_dts: Fraction | None = None
        self._warned_audio = False
        # counters read by status() from other threads (plain ints: atomic enough)
        self.segments_written = 0
        self.bytes_written = 0
        self.errors = 0
        self.last_error: str | None = None
        self.skipped_packets = 0  # before the first keyframe / after an error
        self.cues_written = 0  # timed metadata (ID3 + EXT-X-DATERANGE)
        self.meter = RateMeter()  # what went into segments
        self._cpu_seconds = 0.0
        self._closed = False
        self._last_logged = ""

    # --- encoder thread -----------------------------------------------------

    def start(self, fmt: ProgramFormat) -> None:
        if self._thread is not None:
            log.warning("hls: start() called twice; ignored")
            return
        self._fmt = fmt
        try:
            self._adts = adts_framer(fmt.audio_extradata) if fmt.audio_extradata else None
        except ValueError as exc:
            self._record_error(exc)  # audio will be dropped unless it comes as ADTS
        self._thread = threading.Thread(target=self._run, name=f"hls:{self.directory.name}", daemon=True)
        self._thread.start()

    def put(self, packet: EncodedPacket) -> None:
        if self._thread is None:
            return
        offer(self._queue, packet, time.time(), "hls")

    def close(self) -> None:
        """Mux what is queued, finish the last segment, update the playlist; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.close()
        join_worker(self._thread, 30, "hls")

    def status(self) -> dict[str, object]:
        playlist = self._playlist
        running = self._thread is not None and self._thread.is_alive()
        return {
            "name": self.name,
            "kind": "hls",
            "up": running and self._current is not None,
            "clients": None,  # HTTP pulls: no sessions to count (a CDN usually pulls for everyone)
            "uptime_s": round(self.meter.uptime, 1),
            **self.meter.summary(),
            "directory": str(self.directory),
            "running": self._thread is not None and self._thread.is_alive(),
            "segments_written": self.segments_written,
            "media_sequence": playlist.media_sequence,
            "next_sequence": playlist.next_sequence,
            "discontinuity_sequence": playlist.discontinuity_sequence,
            "playlist_segments": len(playlist.segments),
            "target_duration": playlist.target_duration,
            "dropped_packets": self._queue.dropped,
            "skipped_packets": self.skipped_packets,
            "cues_written": self.cues_written,
            "queue_depth": len(self._queue),
            "bytes_written": self.bytes_written,
            "errors": self.errors,
            "last_error": self.last_error,
            "worker_cpu_seconds": round(self._cpu_seconds, 4),
        }

    # --- worker thread -------------------------------------------------------

    def _run(self) -> None:
        try:
            self._work()
        except Exception as exc:  # a bug, not a media problem: say so loudly, never silently
            self._record_error(exc, "worker stopped")

    def _work(self) -> None:
        cpu0 = time.thread_time()
        try:
            self._restore()
        except Exception as exc:
            self._record_error(exc, "restore")
        while True:
            batch = self._queue.take_all(timeout=_POLL_SECONDS)
            for packet, arrival in batch:
                self._handle(packet, arrival)
            self._cpu_seconds = time.thread_time() - cpu0
            if not batch and self._queue.closed:
                break
        try:
            self._finish_segment(None)
            if self.end_list_on_close:
                self._playlist.ended = True
                self._publish()
        except Exception as exc:
            self._record_error(exc)
        self._cpu_seconds = time.thread_time() - cpu0

    def _restore(self) -> None:
        """Continue an old playlist in this directory (sequence numbers, window) after a restart."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / PLAYLIST_NAME
        old: Playlist | None = None
        if path.exists():
            try:
                old = parse_playlist(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.warning("hls: ignoring unreadable playlist %s: %s", path, exc)
        if old is not None:
            # Only whole head runs can leave a live playlist: drop up to the last missing file.
            segments = old.segments
            missing = [i for i, seg in enumerate(segments) if not (self.directory / seg.name).is_file()]
            cut = missing[-1] + 1 if missing else 0
            dropped_discontinuities = sum(seg.discontinuity for seg in segments[:cut])
            self._playlist = Playlist(
                target_duration=max(
                    self._playlist.target_duration, *(round(seg.duration) for seg in segments[cut:]), 1
                ),
                media_sequence=old.media_sequence + cut,
                discontinuity_sequence=old.discontinuity_sequence + dropped_discontinuities,
                segments=segments[cut:],
            )
            # Our timeline starts anew: players must reset their decoders and clocks.
            self._discontinuity_next = bool(self._playlist.segments)
            log.info(
                "hls: continuing %s at sequence %d (%d old segments listed)",
                path,
                self._playlist.next_sequence,
                len(self._playlist.segments),
            )
        listed = {seg.name for seg in self._playlist.segments}
        leftovers = [p for p in self.directory.iterdir() if SEGMENT_NAME_RE.fullmatch(p.name) and p.name not in listed]
        leftovers.sort(key=lambda p: p.stat().st_mtime)
        self._expired.extend(p.name for p in leftovers)
        self._delete_expired()

    def _handle(self, packet: EncodedPacket, arrival: float) -> None:
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
            current = self._current
            last_end = self._last_video_end
            if current is None:
                self._open_segment(t, arrival)
            else:
                # A backwards or big forward jump is a new timeline, not a long segment.
                jump = last_end is not None and (t < last_end - Fraction(1, 1000) or t - last_end > self._max_gap)
                if jump:
                    log.warning("hls: video timestamps jumped from %.3f to %.3f s", last_end, t)
                    self._finish_segment(last_end)
                    self._discontinuity_next = True
                    self._anchor = None
                    self._open_segment(t, arrival)
                elif t - current.start >= self._segment_length - self._half_frame():
                    self._finish_segment(t)
                    self._open_segment(t, arrival)
        current = self._current
        if current is None:  # waiting for a keyframe
            self.skipped_packets += 1
            return
        current.container.mux(packet.to_av(current.video))
        self.meter.add(len(packet.data), 1)
        frame = packet.duration * packet.time_base if packet.duration else 2 * self._half_frame()
        self._last_video_end = t + frame

    def _handle_audio(self, packet: EncodedPacket) -> None:
        current = self._current
        dts = packet.dts * packet.time_base
        if current is None or (self._last_audio_dts is not None and dts <= self._last_audio_dts):
            # A repeated/late audio frame would be a muxer error costing the whole segment.
            self.skipped_packets += 1
            return
        self._last_audio_dts = dts
        data = packet.data
        if not is_adts(data):
            if self._adts is None:
                if not self._warned_audio:
                    self._warned_audio = True
                    self._record_error(ValueError("raw AAC but no usable AudioSpecificConfig: audio dropped"))
                self.skipped_packets += 1
                return
            packet = replace(packet, data=self._adts(len(data)) + data)
        current.container.mux(packet.to_av(current.audio))
        self.meter.add(len(packet.data))

    def _handle_data(self, packet: EncodedPacket) -> None:
        """A cue: an ID3 PES in the segment at its frame's pts, and an EXT-X-DATERANGE at its date."""
        current, anchor = self._current, self._anchor
        if current is None or anchor is None:
            self.skipped_packets += 1
            return
        text = packet.data.decode()
        current.container.mux(replace(packet, data=id3_tag(text)).to_av(current.data))
        t = packet.pts * packet.time_base
        try:
            cue = json.loads(text)
        except ValueError:
            cue = {}
        attributes = [("X-PAYLOAD", "0x" + packet.data.hex())]
        for name, value in (("X-EVENT", cue.get("event")), ("X-PRODUCT", (cue.get("product") or {}).get("id"))):
            if isinstance(value, str) and value:
                attributes.insert(0, (name, '"' + re.sub(r'["\r\n]', "", value) + '"'))
        ident = str(cue.get("id") or f"pts{packet.pts}")
        start = anchor[1] + float(t - anchor[0])
        self._playlist.dateranges.append(DateRange(ident, start, self.DATERANGE_CLASS, tuple(attributes)))
        self.cues_written += 1

    def _half_frame(self) -> Fraction:
        fps = self._fmt.fps if self._fmt is not None and self._fmt.fps > 0 else 30
        return Fraction(1, 2 * fps)

    def _open_segment(self, start: Fraction, arrival: float) -> None:
        fmt = self._fmt
        assert fmt is not None
        discontinuity = self._discontinuity_next
        if self._anchor is None:  # a new timeline: program date time follows media time from here
            listed = self._playlist.segments
            # ...and never goes back, even when a restart comes sooner than the old media ran.
            last = listed[-1] if listed else None
            floor = (last.program_date_time or 0.0) + last.duration if last is not None else 0.0
            # Program packets carry the clock's own time (tick 0 at time_origin): the date is the
            # wall time the frame was composed at, not when it got here (queues, encode).
            wall = fmt.time_origin + float(start) if fmt.time_origin is not None else arrival
            self._anchor = (start, max(wall, floor))
            self._counters = ContinuityCounters()
            self._last_audio_dts = None
        anchor_t, anchor_wall = self._anchor
        sequence = self._playlist.next_sequence
        name = f"{self._run_id}-{sequence:06d}.ts"
        self.directory.mkdir(parents=True, exist_ok=True)  # cheap; heals a directory removed under us
        file = SegmentFile(self.directory / name, self._counters)
        try:
            container = av.open(file, "w", format="mpegts", container_options=dict(_MUX_OPTIONS))
            video = container.add_mux_stream("h264", rate=fmt.fps, width=fmt.width, height=fmt.height)
            video.time_base = fmt.video_time_base
            audio = container.add_mux_stream("aac", rate=fmt.sample_rate)
            audio.time_base = fmt.audio_time_base
            data = container.add_mux_stream("timed_id3")
            data.time_base = fmt.video_time_base
        except Exception:
            file.close()
            _unlink(file.path)
            raise
        self._current = _OpenSegment(
            sequence=sequence,
            name=name,
            file=file,
            container=container,
            video=video,
            audio=audio,
            data=data,
            start=start,
            program_date_time=anchor_wall + float(start - anchor_t),
            discontinuity=discontinuity,
        )
        self._discontinuity_next = False

    def _finish_segment(self, end: Fraction | None) -> None:
        """Close the open segment (ending at ``end``, or after its last frame) and list it."""
        current = self._current
        if current is None:
            return
        self._current = None
        end = end if end is not None else self._last_video_end
        try:
            current.container.close()  # trailer: flushes the last PES
            current.file.close()
        except Exception:
            current.file.close()
            _unlink(current.file.path)
            raise
        duration = float(end - current.start) if end is not None else 0.0
        if duration <= 0:
            _unlink(current.file.path)
            return
        playlist = self._playlist
        playlist.segments.append(
            PlaylistSegment(current.sequence, current.name, duration, current.program_date_time, current.discontinuity)
        )
        # Never shrinks while we run (RFC 8216 6.2.1); a GOP longer than a segment grows it.
        playlist.target_duration = max(playlist.target_duration, round(duration))
        while len(playlist.segments) > self.window:
            gone = playlist.segments.pop(0)
            playlist.media_sequence += 1
            if gone.discontinuity:
                playlist.discontinuity_sequence += 1
            self._expired.append(gone.name)
        first = playlist.segments[0].program_date_time
        if first is not None:  # a date range leaves with the segment it falls in
            playlist.dateranges = [d for d in playlist.dateranges if d.start >= first]
        self.segments_written += 1
        self.bytes_written += current.file.size
        try:
            self._publish()
        except OSError as exc:  # the media timeline is fine; the next segment retries
            self._record_error(exc)
        self._delete_expired()

    def abandon(self) -> None:
        """Never write the playlist again (any thread); :meth:`close` still ends the worker. For a
        node that lost this show: another node now writes the directory (orchestrator/cluster.py)."""
        self._abandoned = True

    def _publish(self) -> None:
        if self._abandoned:
            return
        write_atomically(self.directory / PLAYLIST_NAME, self._playlist.render())

    def _delete_expired(self) -> None:
        while len(self._expired) > self.retain_extra:
            _unlink(self.directory / self._expired.popleft())

    def _fail(self, exc: Exception, context: str) -> None:
        """A mux or file error: drop the open segment, start clean at the next keyframe.

        The timeline goes on (same clock, same program date time anchor); only
        the listed segments have a hole, which the DISCONTINUITY tag announces.
        """
        self._record_error(exc, context)
        current = self._current
        self._current = None
        if current is not None:
            with contextlib.suppress(Exception):
                current.container.close()
            with contextlib.suppress(Exception):
                current.file.close()
            _unlink(current.file.path)
        # The listed segments stop where the dropped one began: mark the seam.
        self._discontinuity_next = bool(self._playlist.segments)

    def _record_error(self, exc: Exception, context: str = "") -> None:
        self.errors += 1
        # PyAV's message for a muxer refusal is terse; FFmpeg's own log line has the detail.
        message = f"{type(exc).__name__}: {exc}"
        self.last_error = f"{context}: {message}" if context else message
        # A persistent fault (disk full) repeats every keyframe: one traceback per kind is enough.
        repeated = message == self._last_logged
        self._last_logged = message
        log.error("hls %s: %s", self.directory, self.last_error, exc_info=None if repeated else exc)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("hls: cannot delete %s: %s", path, exc)
