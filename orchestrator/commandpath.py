"""The shared state of one show on this node and its one command path.

Commands take one path (:meth:`CommandPath._command`): load the state, change it, store it
(compare-and-set against what this node knows, so a store that went backwards is repaired
instead of obeyed), apply it to the media plane, then record the audit events through the
:class:`~orchestrator.outbox.Outbox` (queued and retried if the store fails now: the command
has happened). A command that fails before its state is stored changed nothing (4xx, or 503
when the store is away).

The concepts built on it (:mod:`orchestrator.showrunner` puts them together): studio
sessions (``studiosessions.py``), outputs (``showoutputs.py``, ``rtmpdestinations.py``,
``broadcastdelays.py``, ``programcommands.py``), scene commands
(``scenecommands.py``), catalogue and graphics (``showgraphics.py``), alarms and clock
events (``showalarms.py``) and the API view (``showview.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mixer.encodedpacket import ProgramFormat
from mixer.graphics.director import GraphicsDirector, ProgramGraphics
from mixer.program import Program
from orchestrator import catalogue, mixerstate
from orchestrator.config import Show
from orchestrator.errors import NotFound, Unavailable
from orchestrator.outbox import Check, Outbox
from orchestrator.showprograms import FURTHER_FIT
from orchestrator.store import Commit, Event, ShowState, StateStore, StoreOutcomeUnknown, StoreUnavailable
from rooms.hostchannel import Changes
from rooms.whipsession import WhipOptions

log = logging.getLogger(__name__)


class CommandPath:
    """A show's configuration, program, applied state and change feed, and the one command path."""

    def __init__(self, show: Show, store: StateStore, data_dir: Path, whip: WhipOptions | None = None) -> None:
        self.show = show  # with imported products merged in (see ShowGraphics._load_catalogue)
        self.config_show = show
        self.whip = whip or WhipOptions()
        # Every applied state (and every studio coming or going) goes out to the host pages.
        self.changes: Changes[ShowState] = Changes()
        self.store = store
        fmt = ProgramFormat(
            width=show.width,
            height=show.height,
            fps=show.fps,
            video_bitrate=show.video_bitrate,
            audio_bitrate=show.audio_bitrate,
        )
        # One program per orientation (config ``programs``), main first: one scene, one audio mix.
        more = []
        for orientation in show.orientations[1:]:
            width, height = show.canvas(orientation)
            more.append((dataclasses.replace(fmt, width=width, height=height), orientation, FURTHER_FIT))
        self.program = Program(fmt, show.title, show.slate_text, orientation=show.orientations[0], more=more)
        self._lock = asyncio.Lock()
        self.state = ShowState(show=show.id)  # the last state applied to the program
        self._loaded = False  # the stored state has been read (start, or the follower later)
        self.store_away_since: float | None = None  # unix time the store was found unreachable (None: it is not)
        # Audit events and media-plane facts, written in order, retried while the store is away.
        self.outbox = Outbox(store, show.id, lambda: self.state, self._committed)
        # Cards, lower third and logo: drawn over the program from what the state says is on air.
        # One director per program: the same scene placed for each canvas (mixer/graphics/layout.py).
        self.graphics = ProgramGraphics(GraphicsDirector(c.graphics, c.width, c.height) for c in self.program.canvases)

    # Hooks of the concepts built on this path (a stored state must reach them too).
    async def _sync_outputs(self, state: ShowState) -> None:
        """Make the outputs what ``state`` says: :meth:`ShowOutputs._sync_outputs`."""

    async def _save_docs(self) -> None:
        """Write the documents beside the state again: :meth:`ShowGraphics._save_docs`."""

    async def _command(
        self,
        change: Callable[[ShowState], ShowState],
        events: Callable[[ShowState, ShowState], list[Event]],
        then: Callable[[ShowState], Any] | None = None,
    ) -> ShowState:
        """Store ``change``, apply it, run ``then`` (more media-plane work), record ``events``.

        ``events(before, after)`` builds the audit lines from the state the change really
        applied to. Raises what ``change`` raises or :class:`StoreUnavailable` (503) before
        anything is stored or applied; after the store write nothing can fail the command.
        """
        before: list[ShowState] = []

        def recorded(s: ShowState) -> ShowState:
            before.append(s)  # the state the change really applied to (a store may retry)
            return change(s)

        await self.outbox.flush()  # what the media plane did first, in order
        async with self._lock:
            try:
                done = await self.store.commit(self.show.id, recorded, self.state)
            except StoreOutcomeUnknown as exc:
                # Not "nothing changed": it may have been stored. If so, it goes on air and its
                # events are written when the store is back; the crew must look before repeating it.
                self.outbox.put_nowait(Check(exc.attempted, events(before[-1], exc.attempted)))
                raise Unavailable(
                    f"state store failed while storing the change, and it may or may not have been "
                    f"stored: if it was, it goes on air when the store is back; check the show's state "
                    f"before repeating it ({exc})"
                ) from exc
            first = await self._committed(done)
        if then is not None:
            await then(done.state)
        await self.outbox.put(*first, *events(before[-1], done.state))
        return done.state

    async def _committed(self, done: Commit) -> list[Event]:
        """Apply a stored state; after a repaired rollback, the events to write before any other."""
        if done.state.version > self.state.version:  # (the change feed may have applied a newer one)
            self._apply(done.state)
        try:
            await self._sync_outputs(self.state)
        except Exception:  # stored is stored: an output that fails shows it in its status
            log.exception("show %s: outputs not set as stored", self.show.id)
        if done.replaced is None:
            return []
        stale = done.replaced
        log.error(
            "show %s: STATE STORE WENT BACKWARDS (stored version %d, this node had %d); "
            "restored this node's state as version %d instead of applying the stale one",
            self.show.id,
            stale.version,
            done.state.version - 1,
            done.state.version,
        )
        await self._save_docs()
        newest = 0.0
        with contextlib.suppress(StoreUnavailable):
            recent = await self.store.events(self.show.id, 1)
            newest = recent[-1].at if recent else 0.0
        detail = {"found_version": stale.version, "restored_version": done.state.version - 1}
        return [*self.outbox.replay_after(newest), Event("state.restored", self.show.id, "system", detail)]

    def _apply(self, state: ShowState) -> None:
        self.state = state
        self.program.set_scene(mixerstate.scene_of(self.show, state))
        self.graphics.request(catalogue.graphics_scene(self.show, state))
        self.changes.publish(state)

    def _check_studio(self, studio_id: str) -> None:
        if self.show.studio(studio_id) is None:
            raise NotFound(f"show {self.show.id!r} has no studio {studio_id!r}")

    async def audit(self, kind: str, actor: str, detail: dict[str, Any]) -> None:
        """An audit event that must not fail the command it records (the change happened):
        queued and retried in order while the store is away."""
        await self.outbox.put(Event(kind, self.show.id, actor, detail))
