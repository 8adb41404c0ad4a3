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

A studio is live while its frames arrive (audio frames for an audio-only
studio, which shows its card). Studios are kept by id, not by session: a new
session of the same studio (``attach_feed`` with a new feed) keeps the
studio's last frames, audio channel and fallback watch, and a studio whose
feed is detached keeps its last frames until they are stale, so a session
replaced within ``stale_after`` never makes the program fall back.

Programs (``mixer/canvas.py``): a show may have two, landscape and portrait. Each tick the
clock decides once what is shown (buses, transition, T-bar, panic, fade to black) and mixes
the audio once; every canvas then draws that with its own compositor and graphics and hands
it, with the same samples and tick, to its own encoder. A cut or a card is one command for both.
"""

from __future__ import annotations

import logging
import threading
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
from mixer.scene import BLACK, SLATE, Bus, Scene
from mixer.transition import Transition
from mixer.videodelay import StudioVideo, new_token

__all__ = ["Program", "Scene"]

log = logging.getLogger(__name__)

EventSink = Callable[[str, dict[str, Any]], object]

# What a tick shows: (blend kind or None, bus a, bus b or None, progress 0-1 from a to b).
Shot = tuple[str | None, Bus, Bus | None, float]

MAX_VIDEO_DELAY = 0.5  # seconds; beyond this a studio's audio buffer is broken, not late


class Program:
    # Beyond this many ticks behind, skip ahead rather than race to catch up.
    MAX_CATCH_UP = 15

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
        self.time_origin: float | None = None  # UNIX time of tick 0, once the clock runs
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
        self._feeds: dict[str, FeedBuffer] = {}
        self._cards: dict[str, Picture] = {}  # audio-only studios' pictures (studio id -> card)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="program-clock", daemon=True)
        self._videos: dict[str, StudioVideo] = {}
        # What is on air: a bus, or a transition between two.
        self._shown: Bus = SLATE
        self._transition: Transition | None = None
        self._take_seq: int | None = None
        self._fallback = Fallback(self._report)
        self.on_event: EventSink | None = None  # called from the clock thread; must be thread-safe
        self.ticks = 0
        self.late_ticks = 0
        self.skipped_ticks = 0
        self.lag = 0.0  # seconds the last tick started after its due time
        self._tick_index = 0  # the clock's tick number (skipped ticks counted): the output pts
        self.compose_seconds = 0.0
        self.on_air: str | None = None  # main studio of what the last tick showed (None = slate)
        self.started_at = 0.0

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
        cards = dict(self._cards)
        if card is not None:
            cards[feed.studio_id] = (card, new_token())
        else:
            cards.pop(feed.studio_id, None)
        self._cards = cards
        self._feeds = {**self._feeds, feed.studio_id: feed}

    def detach_feed(self, studio_id: str) -> None:
        """The studio's session ended: its last frames stay until stale (a new session may follow)."""
        feeds = dict(self._feeds)
        feeds.pop(studio_id, None)
        self._feeds = feeds

    def audio_only(self) -> dict[str, av.VideoFrame]:
        """The studios attached as audio-only, with their cards."""
        return {sid: card for sid, (card, _) in self._cards.items()}

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
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for canvas in self.canvases:
            canvas.encoder.stop()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stats(self) -> dict[str, object]:
        uptime = time.monotonic() - self.started_at if self.started_at else 0.0
        transition = self._transition
        shown = transition.target if transition else self._shown
        return {
            "ticks": self.ticks,
            "late_ticks": self.late_ticks,
            "skipped_ticks": self.skipped_ticks,
            "fps": round(self.ticks / uptime, 2) if uptime > 1 else None,
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
            # dict() copies atomically: the clock thread adds and removes studios.
            "video_delay_ms": {sid: round(1000 * v.delay, 1) for sid, v in dict(self._videos).items()},
            "compose_ms_avg": round(1000 * self.compose_seconds / self.ticks, 3) if self.ticks else None,
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
    def _run(self) -> None:
        """Tick n is due at start + n / fps; its number is the output pts, whatever else is late."""
        period = 1.0 / self.fmt.fps
        self.started_at = start = time.monotonic()
        # The one mapping from the program clock to the wall clock (HLS program date time).
        self.time_origin = time.time() - (time.monotonic() - start)
        for canvas in self.canvases:  # every program on the one timeline
            canvas.encoder.time_origin = self.time_origin
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
                    # Far behind (machine stalled): resynchronise instead of bursting. The
                    # skipped ticks keep their time: the output has no frames for them.
                    self.skipped_ticks += behind
                    n += behind
            self.lag = max(0.0, time.monotonic() - (start + n * period))
            self._tick_index = n
            try:
                self._tick()
            except Exception:
                log.exception("program tick failed")
            n += 1
            self.ticks += 1

    def _tick(self, now: float | None = None) -> None:
        t0 = time.perf_counter()
        # Graphics first, then the time they are drawn at: layers that came with cues are never
        # drawn at a time before they arrived (invisible), so the cue's frame is the first to draw them.
        canvases = self.canvases  # once per tick: a program added or removed meanwhile waits for the next
        graphics = [canvas.graphics.take() for canvas in canvases]
        now = time.monotonic() if now is None else now
        scene, feeds, cards = self._scene, self._feeds, self._cards
        for canvas in canvases:
            canvas.compositor.configure(canvas.fit or scene.fit, scene.fill_rgb)
        live = self._poll(feeds, cards, now, scene.stale_after)
        steady = self._live(cards, now, min(scene.stale_after, STEADY_GAP)) & live
        target = self._fallback.target(scene, live, steady, now)  # watched whatever is shown
        self._switch(scene, BLACK if scene.ftb and not scene.panic else target)
        self.audio.set_levels(scene.gains_db, scene.muted)
        self.audio.keep_parts = self.returns.active
        samples = self.audio.mix(feeds, now)
        self.returns.tick(self.audio)  # from the same decoded samples: no encoder or output delay
        # After the audio: the video delay follows each studio's audio buffer depth.
        pictures = self._pictures(now, scene, live, cards)
        shot = self._shot()  # what every program shows this tick
        for canvas, (layers, cues) in zip(canvases, graphics, strict=True):
            out = canvas.buffer()
            self._draw(canvas, shot, pictures, out)
            if not scene.panic and not scene.ftb:  # the safe slate is clean: a wrong price card may be why we panicked
                canvas.graphics.blend_into(out, canvas.width, canvas.height, now, layers)
            if scene.panic != canvas.panicked:  # players hide their own product cards with ours
                canvas.panicked = scene.panic
                cues = [*cues, {"event": "broadcast.panic", "on": scene.panic}]
            canvas.encoder.submit(self._tick_index, out, samples, cues)
        self._advance()
        self.compose_seconds += time.perf_counter() - t0

    def _poll(self, feeds: dict[str, FeedBuffer], cards: dict[str, Picture], now: float, stale: float) -> set[str]:
        """Take each studio's newest frame; returns the studios live now (delivered within ``stale``)."""
        for studio_id, feed in feeds.items():
            video = self._videos.get(studio_id)
            if video is None:
                video = self._videos[studio_id] = StudioVideo(feed)
            elif video.feed is not feed:  # a new session of the same studio: same slot, same last frames
                video.rebind(feed)
            video.poll()
        live = self._live(cards, now, stale)
        for gone in set(self._videos) - set(feeds) - live:  # left, and its last frames are stale
            del self._videos[gone]
            self.audio.forget(gone)
            for canvas in self.canvases:
                canvas.compositor.forget(gone)
        return live

    def _live(self, cards: dict[str, Picture], now: float, within: float) -> set[str]:
        """Studios whose frames arrived within ``within`` seconds: audio ones for audio-only studios."""
        return {
            sid
            for sid, video in self._videos.items()
            if (now - self.audio.heard(sid) <= within if sid in cards else video.fresh(now, within))
        }

    def _switch(self, scene: Scene, target: Bus) -> None:
        """Start a cut or a transition when the wanted bus differs from what is on air."""
        new_take = self._take_seq is not None and scene.take_seq != self._take_seq
        self._take_seq = scene.take_seq
        current = self._transition.target if self._transition else self._shown
        if self._transition is not None and (new_take or target != current):
            self._shown, self._transition = current, None  # finish the running one at once
        if target == current:
            return
        animated = new_take and scene.transition != "cut" and scene.transition_ms > 0 and not scene.panic
        if animated:
            frames = max(1, round(scene.transition_ms * self.fmt.fps / 1000))
            self._transition = Transition(scene.transition, current, target, frames)
            self.audio.set_on_air(target.studios, frames * self._samples_per_tick)
        else:
            self._shown = target
            ramp = self.audio.panic_samples if scene.panic else self.audio.cut_samples
            self.audio.set_on_air(target.studios, ramp)

    def _pictures(self, now: float, scene: Scene, live: set[str], cards: dict[str, Picture]) -> dict[str, Picture]:
        pictures: dict[str, Picture] = {}
        base = scene.av_sync_ms / 1000
        for studio_id, video in self._videos.items():
            delay = min(MAX_VIDEO_DELAY, max(0.0, base + self.audio.latency(studio_id)))
            picture = video.pick(now, delay)  # for every studio: keeps each one's frame list short
            picture = cards.get(studio_id, picture)
            if picture is not None and studio_id in live:
                pictures[studio_id] = picture
        return pictures

    def _shot(self) -> Shot:
        """What the programs show this tick: (blend kind or None, bus a, bus b, progress 0-1).

        Decided once per tick, so every program shows the same thing; the transition
        advances after all of them are drawn (:meth:`_advance`).
        """
        transition = self._transition
        scene = self._scene
        if transition is None and 0 < scene.tbar < 1 and not scene.panic:  # the T-bar part-way
            return "fade", self._shown, scene.preview_bus(), scene.tbar
        if transition is None:
            return None, self._shown, None, 0.0
        transition.done += 1
        return transition.kind, transition.source, transition.target, transition.progress

    def _draw(self, canvas: Canvas, shot: Shot, pictures: dict[str, Picture], out: np.ndarray) -> None:
        kind, a, b, progress = shot
        compositor = canvas.compositor
        if kind is None or b is None:
            np.copyto(out, compositor.compose(a, pictures, 0))
            return
        canvas.blender.draw(kind, compositor.compose(a, pictures, 0), compositor.compose(b, pictures, 1), progress, out)

    def _advance(self) -> None:
        transition = self._transition
        if transition is None:
            self.on_air = self._shown.main  # with the T-bar part-way too: the program bus is on air
            return
        self.on_air = transition.target.main
        if transition.finished:
            self._shown, self._transition = transition.target, None

    def _report(self, kind: str, detail: dict[str, Any]) -> None:
        log.warning("program: %s %s", kind, detail)
        if self.on_event is not None:
            try:
                self.on_event(kind, detail)
            except Exception:
                log.exception("program event %s not delivered", kind)
