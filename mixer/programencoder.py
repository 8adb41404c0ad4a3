"""The show's one encode: H.264 + AAC (+ Opus for WebRTC) in a thread of its own, fanned out to sinks.

One timeline, the program clock's (see :class:`~mixer.encodedpacket.ProgramFormat`):
a frame's pts is the index of the tick that composed it, skipped ticks
included, and audio pts counts samples from the same tick 0.  When the
encoder cannot keep up it drops pictures, never time: the stream then has
fewer frames per second, but its media time still runs with the wall clock
(before, pts counted encoded frames, and an overloaded show fell 22 s behind
the wall clock in 20 s).  The queue in front of it: :mod:`mixer.tickqueue`; audio
pts stay contiguous (:mod:`mixer.audiotimeline`).

Keyframes are placed by us (:mod:`mixer.keyframeschedule`), not by x264: x264's own
keyint is set far beyond ours so it never adds one.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import threading
import time
from fractions import Fraction
from typing import Any

import av
import numpy as np

from mixer.audiomixer import samples_to_frame
from mixer.audiotimeline import AudioTimeline
from mixer.compositor import planes_to_frame
from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.keyframeschedule import KeyframeSchedule
from mixer.opusencoder import OpusEncoder
from mixer.outputs.ratemeter import RateMeter
from mixer.outputs.sink import Sink
from mixer.tickqueue import TickQueue
from mixer.timedmetadata import stamp

log = logging.getLogger(__name__)


class ProgramEncoder:
    """Encodes (tick, picture, samples) from the program clock; never blocks it.

    The queue holds at most ``QUEUE`` pictures: when a new one comes and the
    queue is full, the oldest queued picture is dropped (its tick's audio
    stays queued), so a slow encoder loses frames and the clock never waits.
    Audio-only ticks are bounded too (``AUDIO_BACKLOG`` seconds); beyond that
    the oldest go, and their time is filled with silence when encoding resumes.
    """

    QUEUE = 8  # pictures waiting; at 30 fps that is at most 0.27 s of added latency
    AUDIO_BACKLOG = 2.0  # seconds of ticks (audio) waiting, pictures or not

    def __init__(self, fmt: ProgramFormat, threads: int = 2, preset: str = "veryfast") -> None:
        self.fmt = fmt
        self._threads = threads
        self._sinks: list[Sink] = []
        self._sinks_lock = threading.Lock()
        self._queue = TickQueue(self.QUEUE, max(self.QUEUE + 1, round(self.AUDIO_BACKLOG * fmt.fps)))
        self._thread = threading.Thread(target=self._run, name="program-encoder", daemon=True)
        self._keyframes = KeyframeSchedule(fmt.fps)
        self._samples_per_tick = fmt.samples_per_tick
        self._audio_timeline = AudioTimeline(fmt.samples_per_tick, fmt.channels, fmt.sample_rate, fmt.fps)
        self.time_origin: float | None = fmt.time_origin  # UNIX time of tick 0; set by the program clock
        self._opus: OpusEncoder | None = None
        self.opus_packets = 0
        self.cues_sent = 0  # timed metadata packets
        self._held_cues: list[dict[str, Any]] = []
        self.frames_encoded = 0
        self.frames_dropped = 0  # pictures the encoder had no time for (their ticks' audio was kept)
        self.audio_ticks_dropped = 0  # ticks lost whole from an overflowing backlog (filled with silence)
        self.silence_filled_ticks = 0  # ticks of silence put where the timeline had no audio
        self.timeline_jumps = 0  # holes too long to fill: the timeline jumps
        self.keyframe_requests = 0
        self.forced_keyframes = 0
        self.bytes_out = 0
        self.encode_seconds = 0.0
        self.meter = RateMeter()  # encoded video: the real output frame rate
        self.started_format: ProgramFormat | None = None
        self._container = av.open(io.BytesIO(), "w", format="mpegts")  # never written: holds the codecs
        self._video = self._container.add_stream("libx264", rate=fmt.fps)
        self._video.width, self._video.height, self._video.pix_fmt = fmt.width, fmt.height, "yuv420p"
        self._video.time_base = Fraction(1, fmt.fps)
        self._video.bit_rate = fmt.video_bitrate
        vctx = self._video.codec_context
        vctx.thread_count = threads
        vctx.options = {
            "preset": preset,
            "tune": "zerolatency",
            "profile": "high",
            "bf": "0",
            # We force every keyframe (see module doc); x264's own limit is only a backstop.
            "g": str(10 * fmt.fps),
            "keyint_min": str(fmt.fps),
            "sc_threshold": "0",
            "forced-idr": "1",
            "maxrate": str(fmt.video_bitrate),
            "bufsize": str(fmt.video_bitrate),
        }
        self._audio = self._container.add_stream("aac", rate=fmt.sample_rate)
        self._audio.layout = "stereo"
        self._audio.bit_rate = fmt.audio_bitrate

    # -- sinks ---------------------------------------------------------------
    def add_sink(self, sink: Sink) -> None:
        with self._sinks_lock:
            self._sinks.append(sink)
            if self.started_format is not None:
                sink.start(self.started_format)

    def remove_sink(self, sink: Sink) -> None:
        with self._sinks_lock:
            if sink in self._sinks:
                self._sinks.remove(sink)

    def detach_all(self) -> list[Sink]:
        """Stop feeding every sink at once (a node that lost its show); returns them, to close."""
        with self._sinks_lock:
            sinks, self._sinks = self._sinks, []
        return sinks

    # -- life cycle ----------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self._sinks_lock:
            sinks = list(self._sinks)
        for sink in sinks:
            try:
                sink.close()
            except Exception:
                log.exception("closing output %s", sink.name)
        if not self._thread.is_alive():
            # Free the codecs now, not at some later GC: x264 holds worker threads, and the
            # container and its streams reference each other.
            try:
                self._container.close()
            except av.error.FFmpegError:
                log.debug("closing the encoder's holder container", exc_info=True)
            self._video = self._audio = self._opus = None  # type: ignore[assignment]

    def submit(
        self, tick: int, picture: np.ndarray, samples: np.ndarray, cues: list[dict[str, Any]] | None = None
    ) -> None:
        """Queue one tick of the program clock (its thread); O(1), never waits for the encoder.

        ``tick`` is the clock's tick index (skipped ticks counted), ``picture``
        packed I420, ``samples`` (samples_per_tick, 2) int16, ``cues`` timed
        metadata that belongs to this frame (kept if the picture is dropped).
        """
        pictures, ticks = self._queue.put(tick, picture, samples, cues)
        self.frames_dropped += pictures
        self.audio_ticks_dropped += ticks

    @property
    def queued(self) -> int:
        """Ticks waiting for the encoder (pictures or audio only)."""
        return len(self._queue)

    @property
    def _key_wanted(self) -> bool:
        return self._keyframes.wanted

    def request_keyframe(self) -> None:
        """Ask for a keyframe soon (any thread): at once, or 500 ms after the last one."""
        self.keyframe_requests += 1
        self._keyframes.request()

    def _opus_wanted(self, sinks: list[Sink]) -> bool:
        # getattr: duck-typed sinks (tests, tools) need not subclass Sink.
        return any(getattr(s, "audio_codec", "aac") == "opus" and not getattr(s, "idle", False) for s in sinks)

    # -- the thread ----------------------------------------------------------
    def _run(self) -> None:
        while (item := self._queue.take()) is not None:
            tick, picture, samples, cues = item
            try:
                self._encode(tick, picture, samples, cues)
            except Exception:
                log.exception("program encode failed at tick %d", tick)

    def _encode(
        self, tick: int, picture: np.ndarray | None, samples: np.ndarray, cues: list[dict[str, Any]] | None = None
    ) -> None:
        """Encode one tick: its picture (if it was not dropped) at pts ``tick``, its audio after the last.

        Its cues go out first, as ``data`` packets with the same pts, to the sinks that take them.
        """
        t0 = time.perf_counter()
        video = self._encode_video(tick, picture) if picture is not None else []
        with self._sinks_lock:
            sinks = list(self._sinks)
        aac, opus = self._encode_audio(tick, samples, self._opus_wanted(sinks))
        self.encode_seconds += time.perf_counter() - t0
        if not video and not aac and not opus:
            if cues:  # nothing out yet (encoder priming): the cues go with the next packets
                self._held_cues += cues
            return
        if self._held_cues:
            cues, self._held_cues = self._held_cues + (cues or []), []
        if self.started_format is None:
            # The AAC AudioSpecificConfig exists only once the encoder is open.
            self._start_sinks()
        for packet in video:
            self.bytes_out += len(packet.data)
        for packet in aac:
            self.bytes_out += len(packet.data)
        fmt = self.started_format
        assert fmt is not None
        data = [stamp(cue, tick, i, fmt) for i, cue in enumerate(cues)] if cues else []
        self.cues_sent += len(data)
        for sink in sinks:
            audio = opus if getattr(sink, "audio_codec", "aac") == "opus" else aac
            try:
                if data and getattr(sink, "accepts_data", False):
                    for packet in data:
                        sink.put(packet)
                if not getattr(sink, "wants_media", True):
                    continue
                for packet in video:
                    sink.put(packet)
                for packet in audio:
                    sink.put(packet)
            except Exception:
                log.exception("output %s refused a packet", sink.name)

    def _encode_video(self, tick: int, picture: np.ndarray) -> list[EncodedPacket]:
        vframe = planes_to_frame(picture)
        vframe.pts = tick
        vframe.time_base = self._video.time_base
        key = self._keyframes.due(tick)
        if key is not None:
            vframe.pict_type = av.video.frame.PictureType.I
            if key == "forced":
                self.forced_keyframes += 1
        video = [EncodedPacket.from_av("video", p) for p in self._video.encode(vframe)]
        self.frames_encoded += 1
        self.meter.add(sum(len(p.data) for p in video), 1)
        return video

    def audio_timeline(self, tick: int, samples: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """The (tick, samples) to encode for ``tick``: itself, after silence for the ticks missing
        before it (a hole: the clock skipped ticks or the backlog overflowed). Empty for a tick
        from the past. Advances the timeline."""
        ticks, filled = self._audio_timeline.ticks(tick, samples)
        if filled is None:  # a hole too long to fill: the timeline jumps
            self.timeline_jumps += 1
            self._opus = None  # restarts at the new pts
        else:
            self.silence_filled_ticks += filled
        return ticks

    def _encode_audio(
        self, tick: int, samples: np.ndarray, opus_wanted: bool
    ) -> tuple[list[EncodedPacket], list[EncodedPacket]]:
        """AAC (and Opus while wanted) for one tick, after silence for any ticks missing before it."""
        spt = self._samples_per_tick
        ticks = self.audio_timeline(tick, samples)
        if not ticks:
            return [], []
        if not opus_wanted:
            self._opus = None
        elif self._opus is None:
            self._opus = OpusEncoder(self.fmt.sample_rate, self.fmt.audio_bitrate, start_pts=ticks[0][0] * spt)
        aac: list[EncodedPacket] = []
        opus: list[EncodedPacket] = []
        for t, chunk in ticks:
            aframe = samples_to_frame(chunk, self.fmt.sample_rate)
            aframe.pts = t * spt
            aframe.time_base = Fraction(1, self.fmt.sample_rate)
            aac += [EncodedPacket.from_av("audio", p) for p in self._audio.encode(aframe)]
            if self._opus is not None:
                opus += self._opus.encode(chunk)
        self.opus_packets += len(opus)
        return aac, opus

    def _start_sinks(self) -> None:
        extradata = self._audio.codec_context.extradata or b""
        fmt = dataclasses.replace(self.fmt, audio_extradata=bytes(extradata), time_origin=self.time_origin)
        with self._sinks_lock:
            self.started_format = fmt
            for sink in self._sinks:
                try:
                    sink.start(fmt)
                except Exception:
                    log.exception("output %s failed to start", sink.name)
