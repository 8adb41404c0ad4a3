"""The show's one encode: H.264 + AAC in a thread of its own, fanned out to sinks."""

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

    def __init__(self, fmt: ProgramFormat, threads: int = 2) -> None:
        self.fmt = fmt
        self._threads = threads
        self._sinks: list[Sink] = []
        self._sinks_lock = threading.Lock()
        self._queue: collections.deque[tuple[int, np.ndarray, np.ndarray]] = collections.deque(
            maxlen=self.QUEUE
        )
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="program-encoder", daemon=True)
        self._force_key = False
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
            "g": str(fmt.fps),
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

    def submit(self, tick: int, picture: np.ndarray, samples: np.ndarray) -> None:
        """Called by the program clock thread; O(1), never blocks."""
        with self._cond:
            if len(self._queue) == self._queue.maxlen:
                self.frames_dropped += 1
            self._queue.append((tick, picture, samples))
            self._cond.notify()

    def request_keyframe(self) -> None:
        self._force_key = True

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
        if self._force_key:
            self._force_key = False
            vframe.pict_type = av.video.frame.PictureType.I
        aframe = samples_to_frame(samples, self.fmt.sample_rate)
        aframe.pts = n * len(samples)
        aframe.time_base = Fraction(1, self.fmt.sample_rate)
        out = [EncodedPacket.from_av("video", p) for p in self._video.encode(vframe)]
        out += [EncodedPacket.from_av("audio", p) for p in self._audio.encode(aframe)]
        self.encode_seconds += time.perf_counter() - t0
        self.frames_encoded += 1
        if not out:
            return
        if self.started_format is None:
            # The AAC AudioSpecificConfig exists only once the encoder is open.
            self._start_sinks()
        with self._sinks_lock:
            sinks = list(self._sinks)
        for packet in out:
            self.bytes_out += len(packet.data)
            for sink in sinks:
                try:
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
