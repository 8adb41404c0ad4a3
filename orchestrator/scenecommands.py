"""Scene commands: cut, preview, take, layout, panic, fade to black, T-bar, audio, fallback policy.

Each is one trip through the command path (orchestrator/commandpath.py); the switching
rules are in orchestrator/mixerstate.py and the clock's in mixer/program.py.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from mixer.scene import LAYOUT_STUDIOS
from orchestrator import catalogue, mixerstate
from orchestrator.commandpath import CommandPath
from orchestrator.errors import BadRequest, Conflict
from orchestrator.store import Event, ShowState

log = logging.getLogger(__name__)


class SceneCommands(CommandPath):
    """What goes on program and preview, and how (transitions, layouts, audio, panic)."""

    async def cut(self, studio_id: str | None, actor: str) -> ShowState:
        """Put a studio (or None: the slate) on program at the next tick."""
        if studio_id is not None:
            self._check_studio(studio_id)
        event = Event("program.cut", self.show.id, actor, {"studio": studio_id})
        return await self._command(lambda s: mixerstate.on_program(s, studio_id, "cut", 0), lambda o, n: [event])

    async def set_preview(self, studio_id: str | None, actor: str) -> ShowState:
        if studio_id is not None:
            self._check_studio(studio_id)
        event = Event("preview.set", self.show.id, actor, {"studio": studio_id})
        return await self._command(lambda s: mixerstate.on_preview(s, studio_id), lambda o, n: [event])

    async def _change_mixer(
        self, change: Callable[[ShowState], ShowState], actor: str, event: Callable[[ShowState], Event | None]
    ) -> ShowState:
        """Store ``change`` and apply it; ``event`` builds the audit line from the state it replaced."""

        def events(old: ShowState, new: ShowState) -> list[Event]:
            line = event(old)
            return [] if line is None else [line]

        return await self._command(change, events)

    async def take(self, transition: str, duration_ms: int | None, actor: str) -> ShowState:
        """Preview to program with a transition; the old program goes to preview (a swap).

        ``duration_ms`` defaults to the show's ``transition_ms``; a cut has none (0), whatever is asked.
        """
        ms = 0 if transition == "cut" else self.show.transition_ms if duration_ms is None else duration_ms

        now = time.time()

        def change(s: ShowState) -> ShowState:
            if s.preview is None:
                raise Conflict("nothing on preview to take")
            return catalogue.take_preview_cards(self.show, mixerstate.take(s, transition, ms), now)

        def events(old: ShowState, new: ShowState) -> list[Event]:
            detail = {"from": old.program, "to": old.preview, "transition": transition, "duration_ms": ms}
            take = Event("program.take", self.show.id, actor, detail)
            return [take, *catalogue.events_between(self.show, old, new, actor, now)]  # cards taken with it

        return await self._command(change, events)

    async def set_layout(
        self,
        layout: str,
        studios: list[str] | None,
        corner: str | None,
        transition: str,
        duration_ms: int | None,
        actor: str,
    ) -> ShowState:
        """Build a layout on preview; ``studios`` main first (default: preview, then program).

        Nothing goes to air until a take (:meth:`take`).
        """
        for studio_id in studios or ():
            self._check_studio(studio_id)
        need = LAYOUT_STUDIOS[layout]

        def change(s: ShowState) -> ShowState:
            wanted = list(studios) if studios else [s.preview, s.program][:need]
            chosen = [x for x in wanted if x is not None]
            if len(chosen) != need or len(set(chosen)) != need:
                raise BadRequest(
                    f"layout {layout!r} needs {need} different studio(s), got {wanted}"
                    " (give 'studios', or put studios on program and preview)"
                )
            return mixerstate.preview_layout(s, layout, chosen, corner)

        def event(s: ShowState) -> Event:
            detail = {"layout": layout, "studios": studios, "corner": corner}
            return Event("preview.layout", self.show.id, actor, detail)

        return await self._change_mixer(change, actor, event)

    async def set_panic(self, on: bool, actor: str) -> ShowState:
        """Slate and silence from the next frame (on), or back to the program bus (off)."""

        def event(s: ShowState) -> Event:
            return Event("program.panic", self.show.id, actor, {"on": on, "program": s.program})

        return await self._change_mixer(lambda s: dataclasses.replace(s, panic=on), actor, event)

    async def fade_to_black(self, on: bool, duration_ms: int | None, actor: str) -> ShowState:
        """Fade the program to black and silence (on) or back up (off) over ``duration_ms``."""
        ms = self.show.transition_ms if duration_ms is None else duration_ms

        def event(s: ShowState) -> Event:
            return Event("program.ftb", self.show.id, actor, {"on": on, "duration_ms": ms, "program": s.program})

        kind = "fade" if ms else "cut"
        return await self._change_mixer(lambda s: mixerstate.fade_to_black(s, on, kind, ms), actor, event)

    async def set_tbar(self, position: float, actor: str) -> ShowState:
        """The T-bar at ``position`` (0-1); reaching 1 takes the preview to air (as a cut)."""
        if position >= 1.0:
            state = await self.take("cut", 0, actor)
            return state
        return await self._change_mixer(lambda s: dataclasses.replace(s, tbar=position), actor, lambda s: None)

    async def set_audio(self, studio_id: str, gain_db: float | None, mute: bool | None, actor: str) -> ShowState:
        self._check_studio(studio_id)

        def change(s: ShowState) -> ShowState:
            gains = dict(s.gains_db)
            if gain_db is not None:
                gains[studio_id] = gain_db
            muted = set(s.muted)
            if mute is not None:
                muted = muted | {studio_id} if mute else muted - {studio_id}
            return dataclasses.replace(s, gains_db=gains, muted=tuple(sorted(muted)))

        def event(s: ShowState) -> Event:
            detail = {"studio": studio_id, "gain_db": gain_db, "mute": mute}
            return Event("audio.set", self.show.id, actor, detail)

        return await self._change_mixer(change, actor, event)

    async def set_fallback_policy(self, policy: str, actor: str) -> ShowState:
        """``auto`` or ``manual`` from now on (mixer/fallback.py); overrides the config, survives restarts."""

        def event(s: ShowState) -> Event:
            return Event("program.fallback_policy", self.show.id, actor, {"policy": policy})

        return await self._change_mixer(lambda s: dataclasses.replace(s, fallback_policy=policy), actor, event)
