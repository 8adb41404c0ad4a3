"""One show's media plane: a fixed-rate clock that composes and mixes each tick.

The clock never waits for a studio: every tick composes what the Scene asks
for (a layout of studios, a transition between two pictures, or the slate)
from each studio's latest frames, mixes one tick of audio, and hands both to
the encoder. Scene changes are swapped in atomically by the control plane and
take effect on the next tick.

Switching (the clock's rules, decided here so they hold within one frame):

- A new ``take_seq`` in the Scene is a take: ``cut`` shows the new picture on
  the next frame; ``fade``/``wipe``/``slide`` run from the picture on air to the
  new one over ``transition_ms`` (a whole number of frames). A take during a
  transition finishes the running one at once and starts from its end.
- Panic: the slate, without graphics, and silence from the next frame, until unpanic.
- Fade to black (``ftb``): a black picture and silence, reached like any take
  (a fade when the take asks for one); graphics stay off while black.
- T-bar (``tbar`` between 0 and 1, no transition running): the program shows a
  mix of its bus and the preview bus at that position; the control plane takes
  the preview as a cut when the bar reaches the end.
- Fallback (``mixer/fallback.py``): if the program's main studio has been live
  on air and then sends nothing for ``stale_after`` seconds, the program shows
  the backup studio (if live) or the slate, reports ``program.fallback``, and
  then follows the show's policy: ``manual`` (latched until the crew cuts) or
  ``auto`` (back to the studio once it has delivered steadily, reported as
  ``program.returned``).

Studios (``mixer/studioinputs.py``) are kept by id, not by session: a session replaced within
``stale_after`` never makes the program fall back. The clock is ``mixer/tickclock.py``, what is on
air ``mixer/switcher.py``.

Programs (``mixer/canvas.py``): a show may have two, landscape and portrait. Each tick the
clock decides once what is shown (buses, transition, T-bar, panic, fade to black) and mixes
the audio once; every canvas then draws that with its own compositor and graphics and hands
it, with the same samples and tick, to its own encoder. A cut or a card is one command for both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import av
import numpy as np

from mixer.audiomixer import AudioMixer
from mixer.canvas import Canvas
from mixer.compositor import Picture
from mixer.encodedpacket import ProgramFormat
from mixer.fallback import STEADY_GAP, Fallback
from mixer.feedbuffer import FeedBuffer
from mixer.mixminus import MixMinus
from mixer.outputs.sink import Sink
from mixer.scene import BLACK, Scene
from mixer.studioinputs import StudioInputs
from mixer.switcher import Shot, Switcher
from mixer.tickclock import TickClock

__all__ = ["Program", "Scene"]

log = logging.getLogger(__name__)

EventSink = Callable[[str, dict[str, Any]], object]


class Program:
    """One show's clock (:class:`~mixer.tickclock.TickClock`), studios, switcher, audio mix and programs."""

    def __init__(
        self,
        fmt: ProgramFormat,
        title: str,
        slate_text: str,
        encoder_threads: int = 2,
        encoder_preset: str = "veryfast",
        *,
        orientation: str = "landscape",
        more: Sequence[tuple[ProgramFormat, str, str | None]] = (),
    ) -> None:
        """``fmt``: the main program; ``more``: further programs as (format, orientation, fit or None),
        drawn from the same scene, studio frames and audio mix (same fps and sample rate)."""
        self.fmt = fmt
        self._samples_per_tick = fmt.sample_rate // fmt.fps
        self._canvas_args = (title, slate_text, encoder_threads, encoder_preset)
        # Replaced whole (never mutated) when a program is added or removed while live.
        self.canvases = [
            Canvas(f, o, title, slate_text, fit=fit, encoder_threads=encoder_threads, encoder_preset=encoder_preset)
            for f, o, fit in [(fmt, orientation, None), *more]
        ]
        main = self.canvases[0]
        # The main program's parts, by their old names (outputs, multiview and bench use them).
        self.compositor, self.blender, self.encoder, self.graphics = (
            main.compositor,
            main.blender,
            main.encoder,
            main.graphics,
        )
        self.audio = AudioMixer(fmt.sample_rate, self._samples_per_tick)
        self.returns = MixMinus(fmt.sample_rate, self._samples_per_tick)  # the hosts' return sound
        self._scene = Scene()
        self._studios = StudioInputs(self.audio, self._forget)
        self.time_origin: float | None = None  # UNIX time of tick 0, once the clock runs
        self.on_air: str | None = None  # main studio of what the last tick showed (None = slate)
        self._clock = TickClock(fmt.fps, self._on_tick, self._on_clock_start)
        self._switcher = Switcher(self.audio, fmt.fps, self._samples_per_tick)  # what is on air
        self._fallback = Fallback(self._report)
        self.on_event: EventSink | None = None  # called from the clock thread; must be thread-safe
        self._tick_index = 0  # the clock's tick number (skipped ticks counted): the output pts
        self.compose_seconds = 0.0

    # -- control plane side (event loop) -------------------------------------
    def set_scene(self, scene: Scene) -> None:
        self._scene = scene  # atomic reference swap; read once per tick

    @property
    def scene(self) -> Scene:
        return self._scene

    def attach_feed(self, feed: FeedBuffer, card: av.VideoFrame | None = None) -> None:
        """A studio's (new) session feeds ``feed``; ``card`` given: it sends audio only, show the card.

        A new feed for a studio already here keeps the studio's last frames and its place on air.
        """
        self._studios.attach(feed, card)

    def detach_feed(self, studio_id: str) -> None:
        """The studio's session ended: its last frames stay until stale (a new session may follow)."""
        self._studios.detach(studio_id)

    def audio_only(self) -> dict[str, av.VideoFrame]:
        """The studios attached as audio-only, with their cards."""
        return self._studios.audio_only()

    @property
    def fallback(self) -> dict[str, Any] | None:
        """{"from", "to", "latched", "policy", ...} while not showing the program's main studio."""
        return self._fallback.view

    def add_sink(self, sink: Sink) -> None:
        """An output of the main program (``canvas(orientation).encoder.add_sink`` for another)."""
        self.encoder.add_sink(sink)

    def canvas(self, orientation: str) -> Canvas:
        """The program of that orientation; KeyError if the show has none."""
        for canvas in self.canvases:
            if canvas.orientation == orientation:
                return canvas
        raise KeyError(orientation)

    def add_program(self, fmt: ProgramFormat, orientation: str, fit: str | None = None) -> Canvas:
        """A further program from the next tick on (while live too); its encoder is started here.

        ``fmt`` must have the main program's fps and sample rate. ValueError if the show has that
        orientation already.
        """
        if any(c.orientation == orientation for c in self.canvases):
            raise ValueError(f"the show has a {orientation} program already")
        title, slate_text, threads, preset = self._canvas_args
        canvas = Canvas(fmt, orientation, title, slate_text, fit=fit, encoder_threads=threads, encoder_preset=preset)
        canvas.encoder.time_origin = self.time_origin  # the same timeline (None: set when the clock starts)
        if self.running:
            canvas.encoder.start()
        self.canvases = [*self.canvases, canvas]  # the clock sees it on its next tick
        return canvas

    def remove_program(self, orientation: str) -> Canvas:
        """Stop drawing a further program (from the next tick); the caller stops its encoder
        (``canvas.encoder.stop()``, which closes its outputs: blocking, run it off the loop).
        KeyError if there is none; ValueError for the main program."""
        canvas = self.canvas(orientation)
        if canvas is self.canvases[0]:
            raise ValueError("the main program cannot be removed")
        self.canvases = [c for c in self.canvases if c is not canvas]
        return canvas

    def start(self) -> None:
        for canvas in self.canvases:
            canvas.encoder.start()
        self._clock.start()

    def stop(self) -> None:
        self._clock.stop()
        for canvas in self.canvases:
            canvas.encoder.stop()

    # The clock's figures that others read (health, metrics).
    @property
    def running(self) -> bool:
        return self._clock.running

    @property
    def lag(self) -> float:
        """Seconds the last tick started after its due time."""
        return self._clock.lag

    def stats(self) -> dict[str, object]:
        clock = self._clock
        uptime = time.monotonic() - clock.started_at if clock.started_at else 0.0
        transition = self._switcher.transition
        shown = self._switcher.target
        return {
            "ticks": clock.ticks,
            "late_ticks": clock.late_ticks,
            "skipped_ticks": clock.skipped_ticks,
            "fps": round(clock.ticks / uptime, 2) if uptime > 1 else None,
            "configured_fps": self.fmt.fps,
            # Encoded frames per second over the last seconds: below configured_fps when overloaded.
            "output_fps": round(self.encoder.meter.rates()[1], 2),
            "tick_lag_ms": round(1000 * self.lag, 1),
            "on_air": self.on_air,
            "on_air_studios": list(shown.studios),
            "layout": shown.layout,
            "transition": {"kind": transition.kind, "progress": round(transition.progress, 2)}
            if transition
            else ({"kind": "tbar", "progress": round(self._scene.tbar, 2)} if 0 < self._scene.tbar < 1 else None),
            "fallback": self.fallback,
            "video_delay_ms": {sid: round(1000 * d, 1) for sid, d in self._studios.video_delays().items()},
            "compose_ms_avg": round(1000 * self.compose_seconds / clock.ticks, 3) if clock.ticks else None,
            "encoded_frames": self.encoder.frames_encoded,
            "encoder_dropped": self.encoder.frames_dropped,
            "encoder_queue": self.encoder.queued,
            "audio_silence_filled_ms": round(1000 * self.encoder.silence_filled_ticks / self.fmt.fps),
            "encode_ms_avg": round(1000 * self.encoder.encode_seconds / self.encoder.frames_encoded, 3)
            if self.encoder.frames_encoded
            else None,
            "uptime_s": round(uptime, 1),
            # Every program of the show (main first): its size and its encoder.
            "programs": [canvas.stats() for canvas in self.canvases],
        }

    # -- the clock thread ----------------------------------------------------
    def _on_clock_start(self, time_origin: float) -> None:
        self.time_origin = time_origin
        for canvas in self.canvases:  # every program on the one timeline
            canvas.encoder.time_origin = time_origin

    def _on_tick(self, n: int) -> None:
        self._tick_index = n
        self._tick()

    def _tick(self, now: float | None = None) -> None:
        t0 = time.perf_counter()
        # Graphics first, then the time they are drawn at: layers that came with cues are never
        # drawn at a time before they arrived (invisible), so the cue's frame is the first to draw them.
        canvases = self.canvases  # once per tick: a program added or removed meanwhile waits for the next
        graphics = [canvas.graphics.take() for canvas in canvases]
        now = time.monotonic() if now is None else now
        studios = self._studios
        scene, feeds, cards = self._scene, studios.feeds, studios.cards
        for canvas in canvases:
            canvas.compositor.configure(canvas.fit or scene.fit, scene.fill_rgb)
        live = studios.poll(feeds, cards, now, scene.stale_after)
        steady = studios.live(cards, now, min(scene.stale_after, STEADY_GAP)) & live
        target = self._fallback.target(scene, live, steady, now)  # watched whatever is shown
        self._switcher.switch(scene, BLACK if scene.ftb and not scene.panic else target)
        self.audio.set_levels(scene.gains_db, scene.muted)
        self.audio.keep_parts = self.returns.active
        samples = self.audio.mix(feeds, now)
        self.returns.tick(self.audio)  # from the same decoded samples: no encoder or output delay
        # After the audio: the video delay follows each studio's audio buffer depth.
        pictures = studios.pictures(now, scene, live, cards)
        shot = self._switcher.shot(scene)  # what every program shows this tick
        for canvas, (layers, cues) in zip(canvases, graphics, strict=True):
            out = canvas.buffer()
            self._draw(canvas, shot, pictures, out)
            if not scene.panic and not scene.ftb:  # the safe slate is clean: a wrong price card may be why we panicked
                canvas.graphics.blend_into(out, canvas.width, canvas.height, now, layers)
            if scene.panic != canvas.panicked:  # players hide their own product cards with ours
                canvas.panicked = scene.panic
                cues = [*cues, {"event": "broadcast.panic", "on": scene.panic}]
            canvas.encoder.submit(self._tick_index, out, samples, cues)
        self.on_air = self._switcher.advance()
        self.compose_seconds += time.perf_counter() - t0

    def _forget(self, studio_id: str) -> None:
        """A studio that left went stale: drop its audio channel and its place in every compositor."""
        self.audio.forget(studio_id)
        for canvas in self.canvases:
            canvas.compositor.forget(studio_id)

    def _draw(self, canvas: Canvas, shot: Shot, pictures: dict[str, Picture], out: np.ndarray) -> None:
        kind, a, b, progress = shot
        compositor = canvas.compositor
        if kind is None or b is None:
            np.copyto(out, compositor.compose(a, pictures, 0))
            return
        canvas.blender.draw(kind, compositor.compose(a, pictures, 0), compositor.compose(b, pictures, 1), progress, out)

    def _report(self, kind: str, detail: dict[str, Any]) -> None:
        log.warning("program: %s %s", kind, detail)
        if self.on_event is not None:
            try:
                self.on_event(kind, detail)
            except Exception:
                log.exception("program event %s not delivered", kind)
