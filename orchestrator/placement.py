"""Placement: which node runs a show that nobody owns.

Every ``lease/6`` s a node beats its heartbeat with its load (:mod:`orchestrator.noderegistry`),
reads the live nodes and the shows' owners, follows the planned moves
(:mod:`orchestrator.plannedmove`), then for a show with no owner: the operator's move target if
alive, else the node with most headroom (among nodes that beat within half a lease) takes it;
any node takes it once it has stayed unowned for two leases (the chosen node is not acting). One
show per round, and none in the first lease after start-up (so nodes started together all
register first and the shows spread).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from orchestrator.clusternode import FAILURES
from orchestrator.noderegistry import NodeInfo, most_headroom
from orchestrator.plannedmove import PlannedMove

# What one 720p30 show costs in cores, so a node that just took a show does not look idle
# until its CPU meter catches up: 0.49 cores measured with 4 studios, 0.65 with 8
# (bench/program_load.py, docs/BENCHMARKS.md), rounded up for studios joining later.
SHOW_CORES = 0.8


class Placement(PlannedMove):
    """The place step: heartbeat, the moves, then at most one unowned show taken per round."""

    def info(self) -> NodeInfo:
        return NodeInfo(
            id=self.node,
            public_url=self.public_url,
            cpu_headroom=round(self._cpu.headroom(), 2),
            cores=self._cpu.cores,
            shows=tuple(sorted(self.held)),
            studios=sum(len(r.sessions) for r in self.runners.values()),
        )

    async def _place(self) -> None:
        await self.registry.beat(self.info())
        self.nodes = {n.id: n for n in await self.registry.nodes()}
        ids = [s.id for s in self.config.shows]
        self.owners = await self.leases.owners(ids)
        self._last_owner.update({s: o.node for s, o in self.owners.items() if o is not None})
        now = time.monotonic()
        await self._follow_moves(ids)
        if now - self._started < self.ttl:
            return  # let the nodes started with us register first
        for show in ids:
            if self.owners.get(show) is not None or show in self.held or show in self._receiving:
                self._unowned_since.pop(show, None)
                continue
            since = self._unowned_since.setdefault(show, now)
            if self._chosen(show, await self.leases.move_target(show)) or now - since >= 2 * self.ttl:
                await self._take(show)
                return  # one per round: the next round sees this node's new load

    def _chosen(self, show: str, target: str | None) -> bool:
        if target and target in self.nodes:
            return target == self.node

        def effective(n: NodeInfo) -> NodeInfo:
            # Count shows taken since the CPU meter last looked, at their known cost.
            budget = n.cores - SHOW_CORES * len(n.shows)
            return NodeInfo(n.id, n.public_url, min(n.cpu_headroom, budget), n.cores, n.shows, n.studios, n.at)

        # A node whose last beat is older than half a lease is dying or busy: not a candidate
        # (its registry entry outlives its leases by up to one beat). Wall clocks: NTP-synced nodes.
        fresh = [n for n in self.nodes.values() if n.id == self.node or time.time() - n.at < self.ttl / 2]
        best = most_headroom([effective(n) for n in fresh])
        return best is not None and best.id == self.node

    async def _take(self, show: str) -> None:
        held = await self.leases.acquire(show)
        if held is None:
            return
        previous = self._last_owner.get(show)
        self.held[show] = held
        self.store.fence(show, held.token)
        self._unowned_since.pop(show, None)
        with contextlib.suppress(*FAILURES):
            await self.leases.clear_move(show)
        # Started beside the loop: heartbeats and placement go on while the show starts.
        task = asyncio.ensure_future(self._start(show, held, previous))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)
