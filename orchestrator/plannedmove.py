"""A planned move of a show between nodes (``POST /api/shows/{id}/move``,
:meth:`ShowLeases.request_move`), with no moment where two nodes are on air.

The target node *prepares* the show first (:meth:`ShowRunner.prepare`: its program runs on the
slate, no output, no store write) and marks itself ready; the owner then detaches its outputs
and hands the lease over in one Redis script (a new fencing token); the target, polling every
50 ms, finds the lease its own and attaches its outputs (HLS: one ``EXT-X-DISCONTINUITY``). The
old node's outputs stop before the lease changes hands and the new node's start after: never two
on air, and the gap is a poll plus the attach, not a whole show start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from orchestrator.clusternode import FAILURES, ClusterNode
from orchestrator.showlease import Held
from orchestrator.store import Event

log = logging.getLogger(__name__)


class PlannedMove(ClusterNode):
    """Both ends of a planned move: the owner hands over, the target prepares and receives."""

    async def _follow_moves(self, ids: list[str]) -> None:
        """One placement round's part of the moves among ``ids`` (owners as last read)."""
        for show in list(self.held):
            target = await self.leases.move_target(show)
            # The new node first prepares the show; it is handed over once it says it is ready.
            if target and target != self.node and target in self.nodes and await self.leases.ready(show) == target:
                await self._hand_over(show, target)
        for show in ids:
            owner = self.owners.get(show)
            if owner is None or owner.node == self.node or show in self.held or show in self._receiving:
                continue
            if await self.leases.move_target(show) == self.node:
                self._receiving[show] = asyncio.ensure_future(self._receive(show))

    async def _receive(self, show: str) -> None:
        """The target of a planned move: prepare ``show``, say so, wait for its owner to hand it over
        (or to vanish: then this is a take-over), then attach the outputs. Gives up, stopping the
        prepared program, when the move is withdrawn or lapses (a minute)."""
        try:
            await self._receive_show(show)
        finally:
            self._receiving.pop(show, None)

    async def _receive_show(self, show: str) -> None:
        runner = self.make_runner(show)
        held: Held | None = None
        try:
            runner.prepare()
            await self.leases.mark_ready(show)
            log.info("cluster %s: show %s prepared here, waiting for the hand-over", self.node, show)
            deadline = time.monotonic() + 60
            while held is None and time.monotonic() < deadline:
                held = await self.leases.acquire(show)
                marks = (await self.leases.move_target(show), await self.leases.ready(show))
                if held is None and self.node not in marks:
                    held = await self.leases.acquire(show)  # the hand-over clears both marks: ours now?
                    break  # else the move was withdrawn
                if held is None:
                    await asyncio.sleep(0.05)
        except FAILURES as exc:
            log.warning("cluster %s: preparing show %s: %s", self.node, show, exc)
        finally:
            if held is None:
                with contextlib.suppress(*FAILURES):
                    await self.leases.clear_ready(show)
                await runner.stop()
        if held is None:
            return
        self.held[show] = held
        self.store.fence(show, held.token)
        self._unowned_since.pop(show, None)
        await self._start(show, held, self._last_owner.get(show), runner)

    async def _hand_over(self, show: str, target: str) -> None:
        """A planned move, once ``target`` is ready: stop the outputs here, then give it the lease."""
        held = self.held.get(show)
        if held is None:
            return
        with contextlib.suppress(*FAILURES):
            await self.store.add_event(Event("cluster.moving", show, "system", {"from": self.node, "to": target}))
        self._lose(show, f"moved to {target}")  # nothing of ours goes out from here on
        if not await self.leases.hand_over(held, target):
            log.warning("cluster %s: show %s: lease lost before the hand-over to %s", self.node, show, target)
