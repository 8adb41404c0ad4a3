"""One show's media plane: a fixed-rate clock that composes and mixes each tick.

The clock never waits for a studio: every tick takes the program studio's
latest frame (or the slate) and one tick of audio, and hands both to the
encoder. Scene changes are swapped in atomically by the control plane and take
effect on the next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from mixer.audiomixer import AudioMixer
from mixer.compositor import Compositor
from mixer.encodedpacket import ProgramFormat
from mixer.graphics.overlaystack import OverlayStack
from mixer.outputs.sink import Sink
from mixer.programencoder import ProgramEncoder
from rooms.feedbuffer import FeedBuffer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scene:
    """What the control plane wants on air; replaced whole, never mutated."""

    program: str | None = None
    preview: str | None = None
    stale_after: float = 1.0  # seconds without a new frame before a studio counts as gone


class Program:
    # Beyond this many ticks behind, skip ahead rather than race to catch up.
    MAX_CATCH_UP = 15

    def __init__(self, fmt: ProgramFormat, title: str, slate_text: str, encoder_threads: int = 2) -> None:
        self.fmt = fmt
        self._samples_per_tick = fmt.sample_rate // fmt.fps
        self.compositor = Compositor(fmt.width, fmt.height, title, slate_text)
        self.audio = AudioMixer(fmt.sample_rate, self._samples_per_tick)
        self.encoder = ProgramEncoder(fmt, threads=encoder_threads)
        self.graphics = OverlayStack()
        self._scene = Scene()
        self._feeds: dict[str, FeedBuffer] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="program-clock", daemon=True)
        self.ticks = 0
        self.late_ticks = 0
        self.skipped_ticks = 0
        self.compose_seconds = 0.0
        self.on_air: str | None = None  # what the last tick actually showed (studio id or None=slate)
        self.started_at = 0.0

    # -- control plane side (event loop) -------------------------------------
    def set_scene(self, scene: Scene) -> None:
        self._scene = scene  # atomic reference swap; read once per tick

    @property
    def scene(self) -> Scene:
        return self._scene

    def attach_feed(self, feed: FeedBuffer) -> None:
        feeds = dict(self._feeds)
        feeds[feed.studio_id] = feed
        self._feeds = feeds

    def detach_feed(self, studio_id: str) -> None:
        feeds = dict(self._feeds)
        feeds.pop(studio_id, None)
        self._feeds = feeds

    def add_sink(self, sink: Sink) -> None:
        self.encoder.add_sink(sink)

    def start(self) -> None:
        self.encoder.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.encoder.stop()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stats(self) -> dict[str, object]:
        uptime = time.monotonic() - self.started_at if self.started_at else 0.0
        return {
            "ticks": self.ticks,
            "late_ticks": self.late_ticks,
            "skipped_ticks": self.skipped_ticks,
            "fps": round(self.ticks / uptime, 2) if uptime > 1 else None,
            "on_air": self.on_air,
            "compose_ms_avg": round(1000 * self.compose_seconds / self.ticks, 3) if self.ticks else None,
            "encoded_frames": self.encoder.frames_encoded,
            "encoder_dropped": self.encoder.frames_dropped,
            "encode_ms_avg": round(1000 * self.encoder.encode_seconds / self.encoder.frames_encoded, 3)
            if self.encoder.frames_encoded
            else None,
            "uptime_s": round(uptime, 1),
        }

    # -- the clock thread ----------------------------------------------------
    def _run(self) -> None:
        period = 1.0 / self.fmt.fps
        self.started_at = start = time.monotonic()
        n = 0
        while not self._stop.is_set():
            due = start + n * period
            now = time.monotonic()
            if due > now:
                if self._stop.wait(due - now):
                    return
            elif now - due > period:
                self.late_ticks += 1
                behind = int((now - due) / period)
                if behind > self.MAX_CATCH_UP:
                    # Far behind (machine stalled): resynchronise instead of bursting.
                    self.skipped_ticks += behind
                    n += behind
            try:
                self._tick()
            except Exception:
                log.exception("program tick failed")
            n += 1
            self.ticks += 1

    def _tick(self) -> None:
        t0 = time.perf_counter()
        scene, feeds = self._scene, self._feeds
        picture = None
        studio = scene.program
        if studio is not None and studio in feeds:
            frame, seq, arrived = feeds[studio].latest_video()
            if frame is not None and time.monotonic() - arrived <= scene.stale_after:
                picture = self.compositor.compose_single(studio, frame, seq)
        if picture is None:
            picture = self.compositor.compose_slate()
            studio = None
        # Audio follows video: silence whenever the slate is up.
        samples = self.audio.mix(feeds, studio)
        self.on_air = studio
        # A private copy: the composed picture may be a cached input, and the
        # encoder reads it later from its own thread.
        out = picture.copy()
        self.graphics.blend_into(out, self.fmt.width, self.fmt.height, time.monotonic())
        self.encoder.submit(self.ticks, out, samples)
        self.compose_seconds += time.perf_counter() - t0
