"""Several nodes, one service: each show runs on exactly one node, chosen through Redis.

Only with ``server.redis_url`` set (a memory store is one node, running every show).
Two tasks per node:

- **keep** (every ``lease/6`` s): renews the leases of the shows this node runs; a show whose
  lease was taken (renew refused) or could not be renewed in time (Redis away, the process
  paused) stops at once: :meth:`Cluster._lose` detaches every output synchronously (no more
  HLS segments, FLV, WHEP, RTMP, recording) and removes it from ``app[SHOWS]`` (requests now
  redirect), then stops the runner in the background. Its writes are refused by the store
  anyway (fencing tokens, :mod:`orchestrator.showlease`).
- **place** (every ``lease/6`` s): heartbeat with this node's load
  (:mod:`orchestrator.noderegistry`), then for a show with no owner: the operator's move
  target if alive, else the node with most headroom (among nodes that beat within half a lease)
  takes it; any node takes it once it has stayed unowned for two leases (the chosen node is not
  acting). One show per round, and
  none in the first lease after start-up (so nodes started together all register first and
  the shows spread).

A planned move (``POST /api/shows/{id}/move``, :meth:`ShowLeases.request_move`): the target
node *prepares* the show first (:meth:`ShowRunner.prepare`: its program runs on the slate, no
output, no store write) and marks itself ready; the owner then detaches its outputs and hands
the lease over in one Redis script (a new fencing token); the target, polling every 50 ms,
finds the lease its own and attaches its outputs (HLS: one ``EXT-X-DISCONTINUITY``). The old
node's outputs stop before the lease changes hands and the new node's start after: never two
on air, and the gap is a poll plus the attach, not a whole show start.

A take-over restores the show from Redis (:meth:`orchestrator.showrunner.ShowRunner.start`);
HLS continues in the same directory when ``data_dir`` is shared between the nodes (same
machine, or a network file system) with ``EXT-X-DISCONTINUITY`` at the seam.
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
from orchestrator.noderegistry import CpuMeter, NodeInfo, NodeRegistry, most_headroom
from orchestrator.redisstore import RedisStore
from orchestrator.showlease import Held, Owner, ShowLeases
from orchestrator.showrunner import ShowRunner
from orchestrator.store import Event, StoreUnavailable

log = logging.getLogger(__name__)

# What one 720p30 show costs in cores, so a node that just took a show does not look idle
# until its CPU meter catches up: 0.49 cores measured with 4 studios, 0.65 with 8
# (bench/program_load.py, docs/BENCHMARKS.md), rounded up for studios joining later.
SHOW_CORES = 0.8
_FAILURES = (RedisError, OSError, StoreUnavailable)


def node_id(config: Config) -> str:
    return config.server.node_id or f"{socket.gethostname()}-{config.server.listen_port}"


def public_url(config: Config) -> str:
    srv = config.server
    if srv.public_url:
        return srv.public_url.rstrip("/")
    return f"{'https' if srv.tls_cert else 'http'}://{srv.listen_host}:{srv.listen_port}"


class Cluster:
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
            with contextlib.suppress(*_FAILURES, TimeoutError):
                await asyncio.wait_for(self.leases.release(held), 2)
        if self._stopping:
            await asyncio.wait(set(self._stopping), timeout=10)
        with contextlib.suppress(*_FAILURES, TimeoutError):
            await asyncio.wait_for(self.registry.leave(self.node), 2)

    async def _loop(self, step: Callable[[], object]) -> None:
        while True:
            try:
                result = step()
                if asyncio.iscoroutine(result):
                    await result
            except _FAILURES as exc:
                log.warning("cluster %s: %s", self.node, exc)
            except Exception:
                log.exception("cluster %s: unexpected error", self.node)
            self._expire()
            await asyncio.sleep(self.ttl / 6)

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

    # -- place: heartbeat, then take unowned shows ---------------------------------------------------

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
        with contextlib.suppress(*_FAILURES):
            await self.leases.clear_move(show)
        # Started beside the loop: heartbeats and placement go on while the show starts.
        task = asyncio.ensure_future(self._start(show, held, previous))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

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
            with contextlib.suppress(*_FAILURES):
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
        with contextlib.suppress(*_FAILURES):
            await self.store.add_event(Event("cluster.placed", show, "system", detail))

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
        except _FAILURES as exc:
            log.warning("cluster %s: preparing show %s: %s", self.node, show, exc)
        finally:
            if held is None:
                with contextlib.suppress(*_FAILURES):
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
        with contextlib.suppress(*_FAILURES):
            await self.store.add_event(Event("cluster.moving", show, "system", {"from": self.node, "to": target}))
        self._lose(show, f"moved to {target}")  # nothing of ours goes out from here on
        if not await self.leases.hand_over(held, target):
            log.warning("cluster %s: show %s: lease lost before the hand-over to %s", self.node, show, target)

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
