"""Alarms (rules in orchestrator/alarms.py) and the program clock's events (fallback, return).

The clock thread reports through ``call_soon_threadsafe`` (:meth:`ShowAlarms._clock_event`);
the alarm watch checks the studios' signals and the outputs every ``alarms.CHECK_EVERY_S``
and takes ended countdown cards off air.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from orchestrator import alarms
from orchestrator.broadcastdelays import BroadcastDelays
from orchestrator.config import Show
from orchestrator.errors import NotFound
from orchestrator.outbox import Fact
from orchestrator.programcommands import ProgramCommands
from orchestrator.rtmpdestinations import RtmpDestinations
from orchestrator.showgraphics import ShowGraphics
from orchestrator.store import Event, ShowState, StateStore, StoreUnavailable
from orchestrator.studiosessions import StudioSessions
from rooms.whipsession import WhipOptions

log = logging.getLogger(__name__)


class ShowAlarms(StudioSessions, RtmpDestinations, BroadcastDelays, ProgramCommands, ShowGraphics):
    """Raised, cleared and acknowledged alarms; fallbacks and returns recorded through the store."""

    def __init__(self, show: Show, store: StateStore, data_dir: Path, whip: WhipOptions | None = None) -> None:
        super().__init__(show, store, data_dir, whip)
        self.alarms = alarms.Alarms()  # rules in orchestrator/alarms.py
        self._alarm_watch: asyncio.Future[None] | None = None
        self._behind_since: float | None = None
        self._ever_live: set[str] = set()  # studios that have had a session: only these can be "lost"
        self._clock_tasks: set[asyncio.Future[None]] = set()  # fallbacks being recorded

    def _clock_event(self, kind: str, detail: dict[str, Any]) -> None:
        """From the program clock (via call_soon_threadsafe): record it through the store."""
        if kind == "program.fallback":
            job = self._fallen_back(detail)
            try:
                found = alarms.fallback_condition(self.show, detail["from"], detail.get("to"), time.time())
                self._raised([self.alarms.raise_now(found, time.time())])
            except Exception:  # the alarm must never cost the fallback's own bookkeeping
                log.exception("show %s: fallback alarm not raised", self.show.id)
        elif kind == "program.returned":
            job = self.audit("program.returned", "system", detail)
            self.changes.publish(self.state)  # the hosts' tallies follow the clock (auto policy)
        else:
            return
        task = asyncio.ensure_future(job)
        self._clock_tasks.add(task)
        task.add_done_callback(self._clock_tasks.discard)

    async def _fallen_back(self, detail: dict[str, Any]) -> None:
        """The program studio failed on air (policy in mixer/fallback.py).

        ``manual``: the fallback becomes the stored program (latched, on every node and after a
        restart). ``auto``: the stored program stays (the clock returns to it by itself); only
        the event is recorded.
        """
        failed, to = detail["from"], detail["to"]
        if detail.get("policy") != "manual":
            await self.audit("program.fallback", "system", detail)
            return

        def change(s: ShowState) -> ShowState:
            if s.program != failed:
                return s  # an operator changed the program meanwhile
            return dataclasses.replace(s, program=to, layout="single", layout_studios=())

        def event(s: ShowState) -> Event:
            return Event("program.fallback", self.show.id, "system", detail)

        await self.outbox.put(Fact(change, lambda old, new: [event(old)]))  # queued if the store is away

    def signals(self) -> list[alarms.Signal]:
        now, wall = time.monotonic(), time.time()
        audio_only = self.program.audio_only()
        out = []
        for studio in self.show.studios:
            session = self.sessions.get(studio.id)
            _, seq, at = session.feed.latest_video() if session else (None, 0, 0.0)
            if session is not None and studio.id in audio_only:  # no picture by design: its sound is its signal
                at = self.program.audio.heard(studio.id)
                seq = 1 if at else 0
            age = now - at if seq else None
            if session is not None:
                self._ever_live.add(studio.id)
            last = wall - age if age is not None else None
            out.append(alarms.Signal(studio.id, session is not None, age, last, studio.id in self._ever_live))
        return out

    async def _watch_alarms(self) -> None:
        while True:
            await asyncio.sleep(alarms.CHECK_EVERY_S)
            try:
                self._check_alarms()
                await self._end_countdowns()
            except Exception:
                log.exception("show %s: alarm check failed", self.show.id)

    def _check_alarms(self) -> None:
        now, state, stats = time.time(), self.state, self.program.stats()
        behind = alarms.is_behind(stats)
        self._behind_since = (self._behind_since or now) if behind else None
        signals = self.signals()
        live = [s.studio for s in signals if s.session and s.frame_age_s is not None and s.frame_age_s < 1.0]
        in_use = {x for x in (state.program, *state.layout_studios, state.preview) if x}
        outputs = self.egress.status() if self.egress is not None else {}
        if self.more_programs:  # a failing push of the portrait program alarms too
            main = outputs.get("rtmp")
            further = [o.status() for p in self.more_programs.values() for o in p.egress.rtmp.values()]
            outputs = {**outputs, "rtmp": [*(main if isinstance(main, list) else []), *further]}
        if self.hls is not None:
            outputs = {**outputs, "hls": self.hls.status()}
        found = alarms.conditions(self.show, signals, in_use, live, stats, outputs, self._behind_since, now)
        if self.store_away_since is not None:
            found.append(alarms.store_condition(self.show, self.store_away_since, self._loaded))
        before = [(a["id"], a["active"]) for a in self.alarms.view()]
        raised = self.alarms.update(found, now)
        self._raised(raised)
        if not raised and before != [(a["id"], a["active"]) for a in self.alarms.view()]:
            self.changes.publish(self.state)  # a cleared alarm: the pages show it at once

    def _raised(self, raised: list[alarms.Alarm]) -> None:
        for alarm in raised:
            detail = {"alarm": alarm.id, "cause": alarm.cause, "fix": alarm.fix}
            task = asyncio.ensure_future(self.audit("alarm.raised", "system", detail))
            self._clock_tasks.add(task)
            task.add_done_callback(self._clock_tasks.discard)
        if raised:
            self.changes.publish(self.state)

    async def acknowledge_alarm(self, alarm_id: str, actor: str) -> dict[str, Any]:
        alarm = self.alarms.acknowledge(alarm_id, actor, time.time())
        await self.audit("alarm.acknowledged", actor, {"alarm": alarm.id, "cause": alarm.cause})
        self.changes.publish(self.state)
        return alarm.to_json()

    async def _end_countdowns(self) -> None:
        """A flash sale that has ended leaves the air: a card saying 00:00 with its price would mislead."""
        now = time.time()
        for slot, card in list(self.state.cards.items()):
            until = card.get("countdown_until")
            if until is not None and now >= float(until):
                with contextlib.suppress(NotFound, StoreUnavailable):
                    await self.hide_card(slot, "system:countdown")
