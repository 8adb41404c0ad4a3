"""The show's one encode: H.264 + AAC (+ Opus for WebRTC) in a thread of its own, fanned out to sinks.

Keyframes are placed by us, not by x264: one every ``fps`` frames counted on
the output timeline (so the CDN sees a regular 1 s GOP), plus forced ones that
WebRTC viewers ask for (PLI/FIR, a new viewer), at most one per 500 ms.  x264's
own keyint is set far beyond ours so it never adds one.
"""

from __future__ import annotations

import collections
import io
import logging
import threading
import time
from fractions import Fraction

import av
import numpy as np

from mixer.audiomixer import samples_to_frame
from mixer.compositor import planes_to_frame
from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.sink import Sink

log = logging.getLogger(__name__)


class ProgramEncoder:
    """Encodes (picture, samples) ticks; never blocks the program clock.

    The input queue is bounded and drops the oldest tick: if the encoder falls
    behind, the stream skips a frame rather than the clock stalling.
    """

    QUEUE = 8
    MIN_FORCED_KEY_GAP = 0.5  # seconds between a keyframe and a forced one

    def __init__(self, fmt: ProgramFormat, threads: int = 2) -> None:
        self.fmt = fmt
        self._threads = threads
        self._sinks: list[Sink] = []
        self._sinks_lock = threading.Lock()
        self._queue: collections.deque[tuple[int, np.ndarray, np.ndarray]] = collections.deque(maxlen=self.QUEUE)
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="program-encoder", daemon=True)
        self._key_wanted = False  # a viewer asked for a keyframe; served when the rate limit allows
        self._last_key = -(10**9)  # frame number of the last keyframe
        self._min_key_gap = max(1, round(self.MIN_FORCED_KEY_GAP * fmt.fps))
        self.keyframe_requests = 0
        self.forced_keyframes = 0
        self._opus: _OpusEncoder | None = None
        self.opus_packets = 0
        self.frames_encoded = 0
        self.frames_dropped = 0
        self.bytes_out = 0
        self.encode_seconds = 0.0
        self.started_format: ProgramFormat | None = None
        self._container = av.open(io.BytesIO(), "w", format="mpegts")  # never written: holds the codecs
        self._video = self._container.add_stream("libx264", rate=fmt.fps)
        self._video.width, self._video.height, self._video.pix_fmt = fmt.width, fmt.height, "yuv420p"
        self._video.time_base = Fraction(1, fmt.fps)
        self._video.bit_rate = fmt.video_bitrate
        vctx = self._video.codec_context
        vctx.thread_count = threads
        vctx.options = {
            "preset": "veryfast",
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

    def submit(self, tick: int, picture: np.ndarray, samples: np.ndarray) -> None:
        """Called by the program clock thread; O(1), never blocks."""
        with self._cond:
            if len(self._queue) == self._queue.maxlen:
                self.frames_dropped += 1
            self._queue.append((tick, picture, samples))
            self._cond.notify()

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
                tick, picture, samples = self._queue.popleft()
            try:
                self._encode(tick, picture, samples)
            except Exception:
                log.exception("program encode failed at tick %d", tick)

    def _encode(self, tick: int, picture: np.ndarray, samples: np.ndarray) -> None:
        t0 = time.perf_counter()
        # Output timestamps count encoded frames, not ticks: a dropped tick
        # must not leave a hole in a constant-frame-rate stream.
        n = self.frames_encoded
        vframe = planes_to_frame(picture)
        vframe.pts = n
        vframe.time_base = self._video.time_base
        regular = n % self.fmt.fps == 0
        forced = self._key_wanted and n - self._last_key >= self._min_key_gap
        if regular or forced:
            vframe.pict_type = av.video.frame.PictureType.I
            self._last_key = n
            self._key_wanted = False
            if not regular:
                self.forced_keyframes += 1
        aframe = samples_to_frame(samples, self.fmt.sample_rate)
        aframe.pts = n * len(samples)
        aframe.time_base = Fraction(1, self.fmt.sample_rate)
        video = [EncodedPacket.from_av("video", p) for p in self._video.encode(vframe)]
        aac = [EncodedPacket.from_av("audio", p) for p in self._audio.encode(aframe)]
        with self._sinks_lock:
            sinks = list(self._sinks)
        # The second audio encode runs only while a WebRTC viewer listens.
        opus: list[EncodedPacket] = []
        if self._opus_wanted(sinks):
            if self._opus is None:
                self._opus = _OpusEncoder(self.fmt.sample_rate, self.fmt.audio_bitrate, start_pts=n * len(samples))
            opus = self._opus.encode(samples)
            self.opus_packets += len(opus)
        else:
            self._opus = None
        self.encode_seconds += time.perf_counter() - t0
        self.frames_encoded += 1
        if not video and not aac and not opus:
            return
        if self.started_format is None:
            # The AAC AudioSpecificConfig exists only once the encoder is open.
            self._start_sinks()
        for packet in video:
            self.bytes_out += len(packet.data)
        for packet in aac:
            self.bytes_out += len(packet.data)
        for sink in sinks:
            audio = opus if getattr(sink, "audio_codec", "aac") == "opus" else aac
            try:
                for packet in video:
                    sink.put(packet)
                for packet in audio:
                    sink.put(packet)
            except Exception:
                log.exception("output %s refused a packet", sink.name)

    def _start_sinks(self) -> None:
        extradata = self._audio.codec_context.extradata or b""
        fmt = ProgramFormat(
            width=self.fmt.width,
            height=self.fmt.height,
            fps=self.fmt.fps,
            sample_rate=self.fmt.sample_rate,
            channels=self.fmt.channels,
            video_bitrate=self.fmt.video_bitrate,
            audio_bitrate=self.fmt.audio_bitrate,
            audio_extradata=bytes(extradata),
        )
        with self._sinks_lock:
            self.started_format = fmt
            for sink in self._sinks:
                try:
                    sink.start(fmt)
                except Exception:
                    log.exception("output %s failed to start", sink.name)


class _OpusEncoder:
    """Program audio as 20 ms Opus packets (48 kHz stereo), for WebRTC viewers.

    Ticks carry ``sample_rate / fps`` samples (1600 at 30 fps); Opus takes 960
    a frame, so a small FIFO regroups them.  Timestamps continue the program's
    audio clock from where this encoder started.
    """

    FRAME = 960

    def __init__(self, sample_rate: int, bit_rate: int, start_pts: int) -> None:
        if sample_rate != 48000:
            raise ValueError("Opus for WebRTC needs 48 kHz program audio")
        ctx = av.CodecContext.create("libopus", "w")
        assert isinstance(ctx, av.AudioCodecContext)
        ctx.sample_rate = sample_rate
        ctx.layout = "stereo"
        ctx.format = "s16"
        ctx.bit_rate = min(bit_rate, 128_000)
        ctx.time_base = Fraction(1, sample_rate)
        ctx.options = {"application": "audio", "frame_duration": "20"}
        ctx.open()
        self._ctx = ctx
        self._fifo = np.zeros((0, 2), dtype=np.int16)
        self._pts = start_pts

    def encode(self, samples: np.ndarray) -> list[EncodedPacket]:
        fifo = np.concatenate((self._fifo, samples)) if len(self._fifo) else samples
        out: list[EncodedPacket] = []
        at = 0
        while len(fifo) - at >= self.FRAME:
            chunk = np.ascontiguousarray(fifo[at : at + self.FRAME]).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
            frame.sample_rate = self._ctx.sample_rate
            frame.pts = self._pts
            frame.time_base = self._ctx.time_base
            self._pts += self.FRAME
            at += self.FRAME
            out += [EncodedPacket.from_av("audio", p) for p in self._ctx.encode(frame)]
        self._fifo = fifo[at:].copy() if at < len(fifo) else fifo[:0]
        return out
