"""One node of a cluster and the shows it holds: their leases kept, or the show stopped at once.

The node's state (who owns what, the live nodes, the shows it holds, starts, stops or prepares)
and the **keep** step: the leases of the shows this node runs are renewed every ``lease/6`` s; a
show whose lease was taken (renew refused) or could not be renewed in time (Redis away, the
process paused) stops at once: :meth:`ClusterNode._lose` detaches every output synchronously (no
more HLS segments, FLV, WHEP, RTMP, recording) and removes it from ``app[SHOWS]`` (requests now
redirect), then stops the runner in the background. Its writes are refused by the store anyway
(fencing tokens, :mod:`orchestrator.showlease`). Also :meth:`ClusterNode._start`: a show placed
here (taken, or handed over) starts and is announced in its audit trail.

The whole picture: ``cluster.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable

from redis.exceptions import RedisError

from mixer.outputs.hlsoutput import HlsOutput
from mixer.outputs.sink import Sink
from orchestrator.config import Config
from orchestrator.noderegistry import CpuMeter, NodeInfo, NodeRegistry
from orchestrator.redisstore import RedisStore
from orchestrator.showlease import Held, Owner, ShowLeases
from orchestrator.showrunner import ShowRunner
from orchestrator.store import Event, StoreUnavailable

log = logging.getLogger(__name__)

# What a cluster step may meet when Redis is away: logged, and the step runs again next round.
FAILURES = (RedisError, OSError, StoreUnavailable)


def node_id(config: Config) -> str:
    """This node's id in the cluster: ``server.node_id``, else ``{hostname}-{listen_port}``."""
    return config.server.node_id or f"{socket.gethostname()}-{config.server.listen_port}"


def public_url(config: Config) -> str:
    """Where other nodes redirect this node's shows' requests: ``server.public_url`` (no trailing
    slash), else the listen address with ``https`` when TLS is on."""
    srv = config.server
    if srv.public_url:
        return srv.public_url.rstrip("/")
    return f"{'https' if srv.tls_cert else 'http'}://{srv.listen_host}:{srv.listen_port}"


class ClusterNode:
    """A node's view of the cluster, the shows it holds, and how it keeps, starts and loses them."""

    def __init__(
        self,
        config: Config,
        store: RedisStore,
        runners: dict[str, ShowRunner],
        make_runner: Callable[[str], ShowRunner],
    ) -> None:
        self.config = config
        self.store = store
        self.node = node_id(config)
        self.public_url = public_url(config)
        self.ttl = config.server.lease_seconds
        self.leases = ShowLeases(store.client, self.node, self.ttl, store.prefix)
        self.registry = NodeRegistry(store.client, store.prefix, ttl=self.ttl)
        self.runners = runners
        self.make_runner = make_runner
        self.held: dict[str, Held] = {}
        self.owners: dict[str, Owner | None] = {}  # last seen, for redirects and the API
        self.nodes: dict[str, NodeInfo] = {}  # last seen live nodes
        self._unowned_since: dict[str, float] = {}
        self._last_owner: dict[str, str] = {}  # show -> the last node seen running it (for the audit)
        self._cpu = CpuMeter()
        self._tasks: list[asyncio.Future[None]] = []
        self._stopping: set[asyncio.Future[None]] = set()  # shows starting or stopping in the background
        self._started = 0.0
        self._receiving: dict[str, asyncio.Future[None]] = {}  # shows this node prepares for a move

    # -- keep: renew, or stop at once -------------------------------------------------------------

    async def _keep(self) -> None:
        held = list(self.held.values())
        results = await asyncio.gather(
            *(asyncio.wait_for(self.leases.renew(h), self.ttl / 3) for h in held), return_exceptions=True
        )
        for h, ok in zip(held, results, strict=True):
            if ok is False and self.held.get(h.show) is h:
                self._lose(h.show, "lease taken over")

    def _expire(self) -> None:
        now = time.monotonic()
        for show, h in list(self.held.items()):
            if now >= h.valid_until:
                self._lose(show, f"lease not renewed for {self.ttl:g} s")

    def _lose(self, show: str, why: str) -> None:
        """Stop ``show``'s outputs now (synchronously: nothing more goes out), then the runner."""
        held = self.held.pop(show, None)
        runner = self.runners.pop(show, None)
        if held is not None:
            self.store.fence(show, held.token)  # keep the stale token: its writes stay refused
        if runner is None:
            return
        log.warning("cluster %s: show %s stopped here: %s", self.node, show, why)
        self._retire(runner)

    def _retire(self, runner: ShowRunner) -> None:
        """Detach every output now (no more HLS, FLV, WHEP, RTMP, recording), stop the rest later."""
        sinks = runner.program.encoder.detach_all()
        for sink in sinks:
            if isinstance(sink, HlsOutput):
                sink.abandon()  # its last segment must not overwrite the new owner's playlist
        task = asyncio.ensure_future(self._finish(runner, sinks))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _finish(self, runner: ShowRunner, sinks: list[Sink]) -> None:
        try:
            await runner.stop()
            # The encoder closes only the sinks it still has: close the detached ones (threads, readers).
            await asyncio.get_running_loop().run_in_executor(None, lambda: [s.close() for s in sinks])
        except Exception:
            log.exception("cluster %s: stopping show %s", self.node, runner.show.id)

    async def _start(self, show: str, held: Held, previous: str | None, runner: ShowRunner | None = None) -> None:
        started = time.monotonic()
        prepared = runner is not None  # a planned move: the program already ran here on the slate
        runner = runner or self.make_runner(show)
        try:
            await runner.start()
        except Exception:
            log.exception("cluster %s: show %s failed to start", self.node, show)
            if self.held.get(show) is held:
                self.held.pop(show, None)
            await runner.stop()
            with contextlib.suppress(*FAILURES):
                await self.leases.release(held)
            return
        if self.held.get(show) is not held:  # lost while starting
            self._retire(runner)
            return
        self.runners[show] = runner
        log.info(
            "cluster %s: show %s placed here (token %d) in %.2f s",
            self.node,
            show,
            held.token,
            time.monotonic() - started,
        )
        start_s = round(time.monotonic() - started, 2)
        detail: dict[str, object] = {"node": self.node, "token": held.token, "start_s": start_s}
        if prepared:
            detail["prepared"] = True
        if previous is not None and previous != self.node:
            detail["previous"] = previous  # a take-over (or a planned move) from that node
        with contextlib.suppress(*FAILURES):
            await self.store.add_event(Event("cluster.placed", show, "system", detail))
