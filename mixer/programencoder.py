"""The show's one encode: H.264 + AAC (+ Opus for WebRTC) in a thread of its own, fanned out to sinks.

One timeline, the program clock's (see :class:`~mixer.encodedpacket.ProgramFormat`):
a frame's pts is the index of the tick that composed it, skipped ticks
included, and audio pts counts samples from the same tick 0.  When the
encoder cannot keep up it drops pictures, never time: the stream then has
fewer frames per second, but its media time still runs with the wall clock
(before, pts counted encoded frames, and an overloaded show fell 22 s behind
the wall clock in 20 s).  Audio is never dropped with a picture; ticks with no
audio at all (the clock skipped them, or the backlog overflowed) are filled
with silence, so audio pts stay contiguous.

Keyframes are placed by us, not by x264: the first frame of every second of
the program clock (so the CDN sees a regular 1 s GOP, also when frames are
dropped), plus forced ones that WebRTC viewers ask for (PLI/FIR, a new
viewer), at most one per 500 ms.  x264's own keyint is set far beyond ours so
it never adds one.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import logging
import threading
import time
from fractions import Fraction
from typing import Any

import av
import numpy as np

from mixer.audioedges import fade_from, fade_in
from mixer.audiomixer import samples_to_frame
from mixer.compositor import planes_to_frame
from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.opusencoder import OpusEncoder
from mixer.outputs.ratemeter import RateMeter
from mixer.outputs.sink import Sink
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
    MAX_SILENCE_FILL = 10.0  # seconds; a longer hole (a suspended machine) is a jump, not silence
    MIN_FORCED_KEY_GAP = 0.5  # seconds between a keyframe and a forced one

    def __init__(self, fmt: ProgramFormat, threads: int = 2, preset: str = "veryfast") -> None:
        self.fmt = fmt
        self._threads = threads
        self._sinks: list[Sink] = []
        self._sinks_lock = threading.Lock()
        # [tick, picture or None (dropped), samples]; pictures dropped oldest first, so
        # the entries without one are always a prefix of the queue.
        self._queue: collections.deque[list[Any]] = collections.deque()
        self._queued_pictures = 0
        self._max_ticks = max(self.QUEUE + 1, round(self.AUDIO_BACKLOG * fmt.fps))
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="program-encoder", daemon=True)
        self._key_wanted = False  # a viewer asked for a keyframe; served when the rate limit allows
        self._last_key = -(10**9)  # tick of the last keyframe
        self._next_regular_key = 0  # first tick of the next GOP second
        self._min_key_gap = max(1, round(self.MIN_FORCED_KEY_GAP * fmt.fps))
        self._samples_per_tick = fmt.samples_per_tick
        self._next_audio_tick: int | None = None  # the tick whose audio comes next on the timeline
        self._silence = np.zeros((self._samples_per_tick, fmt.channels), np.int16)
        self._last_sample: np.ndarray | None = None  # the last audio frame encoded: a hole fades from it
        self.time_origin: float | None = fmt.time_origin  # UNIX time of tick 0; set by the program clock
        self.keyframe_requests = 0
        self.forced_keyframes = 0
        self._opus: OpusEncoder | None = None
        self.opus_packets = 0
        self.cues_sent = 0  # timed metadata packets
        self._held_cues: list[dict[str, Any]] = []
        self.frames_encoded = 0
        self.frames_dropped = 0  # pictures the encoder had no time for (their ticks' audio was kept)
        self.audio_ticks_dropped = 0  # ticks lost whole from an overflowing backlog (filled with silence)
        self.silence_filled_ticks = 0  # ticks of silence put where the timeline had no audio
        self.timeline_jumps = 0  # holes too long to fill: the timeline jumps
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
        with self._cond:
            self._stop = True
            self._cond.notify()
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
        with self._cond:
            queue = self._queue
            if self._queued_pictures >= self.QUEUE:
                queue[len(queue) - self._queued_pictures][1] = None  # the oldest picture: its audio stays
                self._queued_pictures -= 1
                self.frames_dropped += 1
            if len(queue) >= self._max_ticks:
                oldest = queue.popleft()
                if oldest[3] and queue:  # a cue is never lost with its tick: the next one carries it
                    queue[0][3] = oldest[3] + (queue[0][3] or [])
                self.audio_ticks_dropped += 1
                if oldest[1] is not None:
                    self._queued_pictures -= 1
                    self.frames_dropped += 1
            queue.append([tick, picture, samples, cues])
            self._queued_pictures += 1
            self._cond.notify()

    @property
    def queued(self) -> int:
        """Ticks waiting for the encoder (pictures or audio only)."""
        return len(self._queue)

    def request_keyframe(self) -> None:
        """Ask for a keyframe soon (any thread): at once, or 500 ms after the last one."""
        self.keyframe_requests += 1
        self._key_wanted = True

    def _opus_wanted(self, sinks: list[Sink]) -> bool:
        # getattr: duck-typed sinks (tests, tools) need not subclass Sink.
        return any(getattr(s, "audio_codec", "aac") == "opus" and not getattr(s, "idle", False) for s in sinks)

    # -- the thread ----------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                tick, picture, samples, cues = self._queue.popleft()
                if picture is not None:
                    self._queued_pictures -= 1
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
        # Keyframes on the clock's time grid, not on a frame count: a dropped
        # frame must not cost the CDN its 1 s GOP.
        regular = tick >= self._next_regular_key
        forced = self._key_wanted and tick - self._last_key >= self._min_key_gap
        if regular or forced:
            vframe.pict_type = av.video.frame.PictureType.I
            self._last_key = tick
            self._key_wanted = False
            if regular:
                self._next_regular_key = (tick // self.fmt.fps + 1) * self.fmt.fps
            else:
                self.forced_keyframes += 1
        video = [EncodedPacket.from_av("video", p) for p in self._video.encode(vframe)]
        self.frames_encoded += 1
        self.meter.add(sum(len(p.data) for p in video), 1)
        return video

    def audio_timeline(self, tick: int, samples: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """The (tick, samples) to encode for ``tick``: itself, after silence for the ticks missing
        before it (a hole: the clock skipped ticks or the backlog overflowed). Empty for a tick
        from the past. Advances the timeline."""
        spt = self._samples_per_tick
        ticks: list[tuple[int, np.ndarray]] = [(tick, samples)]
        expected = self._next_audio_tick
        if expected is not None:
            if tick < expected:  # a tick from the past: never make audio go back
                return []
            missing = tick - expected
            if missing * spt > self.MAX_SILENCE_FILL * self.fmt.sample_rate:
                self.timeline_jumps += 1
                self._opus = None  # restarts at the new pts
                log.warning("program encoder: %.1f s without ticks; the timeline jumps", missing / self.fmt.fps)
                ticks = [(tick, fade_in(samples))]
            elif missing:
                # Silence, entered from where the sound stopped and left with a fade-in: a
                # step there is a click on air (tests/mixer/test_audio_e2e.py saw one under load).
                self.silence_filled_ticks += missing
                hole = [(t, self._silence) for t in range(expected, tick)]
                if self._last_sample is not None:
                    hole[0] = (expected, fade_from(self._last_sample, self._silence))
                ticks = [*hole, (tick, fade_in(samples))]
        self._next_audio_tick = tick + 1
        self._last_sample = ticks[-1][1][-1].copy()
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
