"""Several nodes, one service: each show runs on exactly one node, chosen through Redis.

Only with ``server.redis_url`` set (a memory store is one node, running every show).
Two tasks per node, one module each:

- **keep** (every ``lease/6`` s, ``clusternode.py``): renews the leases of the shows this node
  runs; a show whose lease was taken or could not be renewed in time stops at once
  (:meth:`ClusterNode._lose`: every output detached synchronously, requests redirect).
- **place** (every ``lease/6`` s, ``placement.py``): heartbeat with this node's load
  (:mod:`orchestrator.noderegistry`), the planned moves (``plannedmove.py``), then a show with
  no owner goes to the operator's move target if alive, else to the node with most headroom.

The leases and their fencing tokens: ``showlease.py``. A take-over restores the show from Redis
(:meth:`orchestrator.showrunner.ShowRunner.start`); HLS continues in the same directory when
``data_dir`` is shared between the nodes (same machine, or a network file system) with
``EXT-X-DISCONTINUITY`` at the seam.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from orchestrator.clusternode import FAILURES
from orchestrator.placement import Placement

log = logging.getLogger(__name__)


class Cluster(Placement):
    """This node's part of the cluster: the keep and place loops, and what the API reads.

    Built with the config, the :class:`RedisStore`, the app's ``{show id: ShowRunner}`` (this
    node's running shows, changed in place) and a factory of runners (``show id -> ShowRunner``).
    """

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._started = time.monotonic()
        self._tasks = [asyncio.ensure_future(self._loop(self._keep)), asyncio.ensure_future(self._loop(self._place))]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for task in self._receiving.values():
            task.cancel()  # a move this node was waiting for: its prepared runner stops
        await asyncio.gather(*self._receiving.values(), return_exceptions=True)
        if self._stopping:  # shows still starting: let them finish, then stop them with the rest
            await asyncio.wait(set(self._stopping), timeout=30)
        for show in list(self.held):
            held = self.held.pop(show)
            runner = self.runners.pop(show, None)
            if runner is not None:
                await runner.stop()
            with contextlib.suppress(*FAILURES, TimeoutError):
                await asyncio.wait_for(self.leases.release(held), 2)
        if self._stopping:
            await asyncio.wait(set(self._stopping), timeout=10)
        with contextlib.suppress(*FAILURES, TimeoutError):
            await asyncio.wait_for(self.registry.leave(self.node), 2)

    async def _loop(self, step: Callable[[], object]) -> None:
        while True:
            try:
                result = step()
                if asyncio.iscoroutine(result):
                    await result
            except FAILURES as exc:
                log.warning("cluster %s: %s", self.node, exc)
            except Exception:
                log.exception("cluster %s: unexpected error", self.node)
            self._expire()
            await asyncio.sleep(self.ttl / 6)

    # -- what the API and the redirects read -----------------------------------------------------------

    def owner_url(self, show: str) -> str | None:
        """The public URL of the node that runs ``show`` (None: nobody, or this node)."""
        owner = self.owners.get(show)
        if owner is None or owner.node == self.node:
            return None
        node = self.nodes.get(owner.node)
        return node.public_url if node is not None else None

    def view(self) -> dict[str, object]:
        return {
            "node": self.node,
            "nodes": [n.to_json() for n in sorted(self.nodes.values(), key=lambda n: n.id)],
            "owners": {s: (o.node if o else None) for s, o in sorted(self.owners.items())},
        }
