"""The vision switcher's state: what the program shows, a bus or a transition between two.

The clock's switching rules (see :mod:`mixer.program`), decided once per tick so they hold
within one frame: a new ``take_seq`` is a take (a cut on the next frame, or a fade/wipe/slide
of ``transition_ms`` as whole frames); a take during a transition finishes the running one at
once and starts from its end; the T-bar part-way shows a mix of the program and preview buses.
The audio follows what is on air (:meth:`AudioMixer.set_on_air`).
"""

from __future__ import annotations

from mixer.audiomixer import AudioMixer
from mixer.scene import SLATE, Bus, Scene
from mixer.transition import Transition

# What a tick shows: (blend kind or None, bus a, bus b or None, progress 0-1 from a to b).
Shot = tuple[str | None, Bus, Bus | None, float]


class Switcher:
    """The bus on air (``shown``) or the running ``transition``; clock thread only.

    ``fps``: frames per second of the program clock; ``samples_per_tick``: audio samples per
    frame (the audio ramps over a transition's length).
    """

    def __init__(self, audio: AudioMixer, fps: int, samples_per_tick: int) -> None:
        self._audio = audio
        self._fps = fps
        self._samples_per_tick = samples_per_tick
        self.shown: Bus = SLATE
        self.transition: Transition | None = None
        self._take_seq: int | None = None

    @property
    def target(self) -> Bus:
        """The bus on air, or the one the running transition goes to."""
        return self.transition.target if self.transition else self.shown

    def switch(self, scene: Scene, target: Bus) -> None:
        """Start a cut or a transition when the wanted bus differs from what is on air."""
        new_take = self._take_seq is not None and scene.take_seq != self._take_seq
        self._take_seq = scene.take_seq
        current = self.target
        if self.transition is not None and (new_take or target != current):
            self.shown, self.transition = current, None  # finish the running one at once
        if target == current:
            return
        animated = new_take and scene.transition != "cut" and scene.transition_ms > 0 and not scene.panic
        if animated:
            frames = max(1, round(scene.transition_ms * self._fps / 1000))
            self.transition = Transition(scene.transition, current, target, frames)
            self._audio.set_on_air(target.studios, frames * self._samples_per_tick)
        else:
            self.shown = target
            ramp = self._audio.panic_samples if scene.panic else self._audio.cut_samples
            self._audio.set_on_air(target.studios, ramp)

    def shot(self, scene: Scene) -> Shot:
        """What the programs show this tick: (blend kind or None, bus a, bus b, progress 0-1).

        Decided once per tick, so every program shows the same thing; the transition
        advances after all of them are drawn (:meth:`advance`).
        """
        transition = self.transition
        if transition is None and 0 < scene.tbar < 1 and not scene.panic:  # the T-bar part-way
            return "fade", self.shown, scene.preview_bus(), scene.tbar
        if transition is None:
            return None, self.shown, None, 0.0
        transition.done += 1
        return transition.kind, transition.source, transition.target, transition.progress

    def advance(self) -> str | None:
        """After a tick is drawn: a finished transition leaves its target shown. Returns the main
        studio of what this tick showed (None: the slate or black)."""
        transition = self.transition
        if transition is None:
            return self.shown.main  # with the T-bar part-way too: the program bus is on air
        if transition.finished:
            self.shown, self.transition = transition.target, None
        return transition.target.main
