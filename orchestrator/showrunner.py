"""One show live on this node: its studios' sessions, its program and outputs.

:class:`ShowRunner` is composed of one part per concept, each in its own module:

- ``commandpath.py``: the shared state and the one command path (load, change, store,
  apply, then audit best-effort through the outbox);
- ``studiosessions.py``: WHIP sessions, presence, join links;
- ``showoutputs.py``: HLS/FLV/webhook, egress (WHEP, RTMP, recording), the further programs'
  outputs; the commands on them in ``rtmpdestinations.py``, ``broadcastdelays.py`` (delays and
  dumps) and ``programcommands.py``;
- ``scenecommands.py``: cut, preview, take, layout, panic, fade to black, T-bar, audio;
- ``showgraphics.py``: products, rundown, cards, lower third, logo, cues;
- ``showalarms.py``: alarms and the program clock's events;
- ``showview.py``: the API view.

This module holds the life cycle (start, stop) and the follower of other nodes' changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path

from orchestrator.config import Show
from orchestrator.outbox import Fact
from orchestrator.scenecommands import SceneCommands
from orchestrator.showview import ShowView
from orchestrator.store import ShowState, StateStore, StoreUnavailable
from rooms.ingestpool import IngestPool
from rooms.whipsession import WhipOptions, WhipSession

log = logging.getLogger(__name__)


class ShowRunner(ShowView, SceneCommands):
    """One show on this node; see the module docstring for where each concept lives."""

    def __init__(
        self,
        show: Show,
        store: StateStore,
        data_dir: Path,
        whip: WhipOptions | None = None,
        ingest: IngestPool | None = None,
    ) -> None:
        super().__init__(show, store, data_dir, whip)
        self.ingest = ingest  # worker processes receive the studios (None: this process does)
        self._follower: asyncio.Future[None] | None = None

    def prepare(self) -> None:
        """Warm up on a node about to take the show over (a planned hand-over, orchestrator/cluster.py):
        the program clock and encoder run on the slate, with no output attached and nothing written
        to the store. :meth:`start` then attaches the outputs once this node holds the show's lease."""
        if not self.program.running:
            self.program.start()

    async def start(self) -> None:
        await self._start_outputs()
        await self._load_catalogue()
        # Sessions did not survive whatever stopped us: nobody is online yet.
        stored: list[ShowState] = []

        def nobody_online(s: ShowState) -> ShowState:
            stored.append(s)
            return dataclasses.replace(s, online=())

        try:
            state = await self.store.update(self.show.id, nobody_online)
            self._loaded = True
            if stored and stored[-1].version > 0:  # a restart (or a take-over): the audit trail shows the break
                await self.audit("show.started", "system", self._restart_detail(stored[-1], state))
        except StoreUnavailable as exc:
            log.error("show %s: state store unavailable at start (%s); starting on the slate", self.show.id, exc)
            self.store_away_since = time.time()
            state = ShowState(show=self.show.id)
        self._apply(state)
        await self._sync_outputs(state)
        self.outbox.start()
        self._output_watch = asyncio.ensure_future(self._watch_outputs())
        loop = asyncio.get_running_loop()
        self.program.on_event = lambda kind, detail: loop.call_soon_threadsafe(self._clock_event, kind, detail)
        self.program.add_sink(self.multiview.monitor)
        self.returns.start()
        if self.program.running:  # prepared: the outputs begin at a keyframe now, not in a GOP
            self.program.encoder.request_keyframe()
        else:
            self.program.start()
        self.multiview.start()
        self._follower = asyncio.ensure_future(self._follow())
        self._alarm_watch = asyncio.ensure_future(self._watch_alarms())

    @staticmethod
    def _restart_detail(before: ShowState, now: ShowState) -> dict[str, object]:
        """``show.started``'s detail: what goes on air again, and who was online before the stop
        (their sessions ended with it; the outputs stopped until now)."""
        return {"program": now.program, "cards": sorted(now.cards), "online_before": sorted(before.online)}

    async def _follow(self) -> None:
        """Apply changes another node made to this show (stores that can publish them)."""
        watch = getattr(self.store, "watch", None)
        if watch is None:
            return
        while True:
            try:
                async for state in watch(self.show.id):
                    self.store_away_since = None  # the feed answers: the store is back (the alarm clears)
                    if state.version > self.state.version:
                        self._apply(state)
                        if not self._loaded:  # the store was away at start: outputs as stored
                            self._loaded = True
                            await self._sync_outputs(state)
                    elif state.version < self.state.version:
                        # Redis came back older (empty, or an old snapshot): put our state back now,
                        # through the outbox so it stays in order with facts queued meanwhile.
                        self.outbox.put_nowait(Fact(lambda s: s))
                    self.outbox.kick()
            except StoreUnavailable as exc:
                log.warning("show %s: lost the state store's change feed (%s); retrying", self.show.id, exc)
                self.store_away_since = self.store_away_since or time.time()
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self._alarm_watch is not None:
            self._alarm_watch.cancel()
        if self._follower is not None:
            self._follower.cancel()
            # Bounded: closing a Redis subscription must not hold up the shutdown.
            await asyncio.wait({self._follower}, timeout=2)
        if self._output_watch is not None:
            self._output_watch.cancel()
        await self.outbox.stop()
        for session in list(self.sessions.values()):
            await session.close()
        if self._retiring:
            await asyncio.wait(set(self._retiring), timeout=WhipSession.CLOSE_TIMEOUT_S + 1)
        await self.returns.close()
        if self.egress is not None:
            await self.egress.close()
        await self.programs.close()
        if self.crew is not None:
            await self.crew.close()
        await asyncio.get_running_loop().run_in_executor(None, self.program.stop)
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.wait({self._webhook_task}, timeout=2)
        await self.graphics.close()
        self.multiview.stop()
