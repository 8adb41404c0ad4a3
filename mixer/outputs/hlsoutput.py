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
continuity counters renumbered as the bytes are written
(:class:`~mixer.outputs.tssegmentfile.ContinuityCounters`), and codec-less mux streams
(:mod:`mixer.outputs.hlssegment`) with audio in ADTS framing (:mod:`mixer.outputs.adts`: the TS
muxer needs extradata or ADTS, and a codec-less stream cannot carry extradata).  Video needs
nothing: SPS/PPS are in-band on every keyframe.  Where segments are cut (timelines, dates,
errors) is :mod:`mixer.outputs.hlssegmenter`; the playlist window and the files on disk
(restart, expiry) are :mod:`mixer.outputs.hlswindow`.

Threads: :meth:`HlsOutput.put` runs in the encoder thread and only appends to a
bounded :class:`~mixer.outputs.packetqueue.PacketQueue`; one worker thread per
output muxes, writes files and deletes old segments.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.adts import adts_framer
from mixer.outputs.hlsplaylist import Playlist
from mixer.outputs.hlssegmenter import DATERANGE_CLASS, HlsSegmenter
from mixer.outputs.hlswindow import PLAYLIST_NAME, SEGMENT_NAME_RE, HlsWindow
from mixer.outputs.packetqueue import PacketQueue
from mixer.outputs.sink import Sink
from mixer.outputs.worker import join_worker, offer

__all__ = ["PLAYLIST_NAME", "SEGMENT_NAME_RE", "HlsOutput"]  # the names' old home: importers keep working

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.1  # worker batch interval: adds <= 0.1 s to a 2 s segment's publication


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
    DATERANGE_CLASS = DATERANGE_CLASS

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
        # The worker polls (10 Hz) rather than being woken per packet: a wake-up per
        # packet cost 5x the muxing itself.  Only a filling queue wakes it early.
        self._queue = PacketQueue(queue_size, wake_at=queue_size // 4)
        self._thread: threading.Thread | None = None
        # worker state
        self._window = HlsWindow(self.directory, window, self.retain_extra, max(1, math.ceil(segment_seconds)))
        self._segmenter = HlsSegmenter(self.directory, segment_seconds, self._window, self._record_error)
        self.meter = self._segmenter.meter  # what went into segments
        # counters read by status() from other threads (plain ints: atomic enough)
        self.errors = 0
        self.last_error: str | None = None
        self._cpu_seconds = 0.0
        self._closed = False
        self._last_logged: tuple[str, int] | None = None  # (message, segments written then)

    # --- encoder thread -----------------------------------------------------

    def start(self, fmt: ProgramFormat) -> None:
        if self._thread is not None:
            log.warning("hls: start() called twice; ignored")
            return
        self._segmenter.fmt = fmt
        try:
            self._segmenter.adts = adts_framer(fmt.audio_extradata) if fmt.audio_extradata else None
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
        playlist, segmenter = self._playlist, self._segmenter
        running = self._thread is not None and self._thread.is_alive()
        return {
            "name": self.name,
            "kind": "hls",
            "up": running and segmenter.current is not None,
            "clients": None,  # HTTP pulls: no sessions to count (a CDN usually pulls for everyone)
            "uptime_s": round(self.meter.uptime, 1),
            **self.meter.summary(),
            "directory": str(self.directory),
            "running": self._thread is not None and self._thread.is_alive(),
            "segments_written": segmenter.segments_written,
            "media_sequence": playlist.media_sequence,
            "next_sequence": playlist.next_sequence,
            "discontinuity_sequence": playlist.discontinuity_sequence,
            "playlist_segments": len(playlist.segments),
            "target_duration": playlist.target_duration,
            "dropped_packets": self._queue.dropped,
            "skipped_packets": segmenter.skipped_packets,
            "cues_written": segmenter.cues_written,
            "queue_depth": len(self._queue),
            "bytes_written": segmenter.bytes_written,
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
                self._segmenter.handle(packet, arrival)
            self._cpu_seconds = time.thread_time() - cpu0
            if not batch and self._queue.closed:
                break
        try:
            self._segmenter.finish_segment(None)
            if self.end_list_on_close:
                self._playlist.ended = True
                self._window.publish()
        except Exception as exc:
            self._record_error(exc)
        self._cpu_seconds = time.thread_time() - cpu0

    @property
    def _playlist(self) -> Playlist:
        return self._window.playlist  # replaced whole by a restore

    def _restore(self) -> None:
        """Continue an old playlist in this directory (sequence numbers, window) after a restart."""
        if self._window.restore():
            # Our timeline starts anew: players must reset their decoders and clocks.
            self._segmenter.discontinuity_next = True

    def abandon(self) -> None:
        """Never write the playlist again (any thread); :meth:`close` still ends the worker. For a
        node that lost this show: another node now writes the directory (orchestrator/cluster.py)."""
        self._window.abandon()

    def _record_error(self, exc: Exception, context: str = "") -> None:
        """Count and log an error (any thread); ``context`` says what it cost."""
        self.errors += 1
        # PyAV's message for a muxer refusal is terse; FFmpeg's own log line has the detail.
        message = f"{type(exc).__name__}: {exc}"
        self.last_error = f"{context}: {message}" if context else message
        # A persistent fault (disk full, a directory it cannot write) repeats every packet: log it
        # once until a segment gets written again (the count and alarm say it goes on).
        written = self._segmenter.segments_written
        if (message, written) == self._last_logged:
            return
        self._last_logged = (message, written)
        log.error("hls %s: %s", self.directory, self.last_error, exc_info=exc)
