"""Real server nodes of one cluster for tests and benchmarks: separate ``python -m orchestrator
serve --cluster`` processes on loopback, one Redis, one shared data directory (HLS survives a node).

    nodes = ClusterNodes(tmp_path, redis.url, shows=3)
    await nodes.start(3)
    owner = await nodes.wait_owned()   # {show: node index}, every show owned
    nodes.kill(1)                      # SIGKILL, by PID
    nodes.close()

or, with a redis-server of its own, every process ended on exit:

    async with running_cluster(tmp_path, shows=3, nodes=3) as nodes:
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import OPERATOR
from tests.ports import free_port
from tests.redisserver import RedisServer
from tests.studioprocess import stop_processes

ROOT = Path(__file__).resolve().parent.parent.parent
AUTH = {"Authorization": f"Bearer {OPERATOR}"}
LEASE_S = 2.0


def cluster_config(directory: Path, shows: int, lease_seconds: float = LEASE_S) -> Path:
    lines = [
        "[server]",
        f'operator_token = "{OPERATOR}"',
        'link_secret = "test-link-secret-0123456789"',
        'ice_hosts = ["127.0.0.1"]',
        f'data_dir = "{directory / "data"}"',
        f"lease_seconds = {lease_seconds}",
        "cluster = true",
    ]
    for i in range(shows):
        lines += [
            "[[shows]]",
            f'id = "show-{i}"',
            f'title = "Show {i}"',
            "width = 320",
            "height = 180",
            "fps = 15",
            "video_bitrate = 300000",
            "[shows.outputs]",
            "hls_segment_seconds = 1.0",
            "[[shows.studios]]",
            'id = "alpha"',
            'name = "Alpha"',
            "[[shows.studios]]",
            'id = "bravo"',
            'name = "Bravo"',
        ]
    path = directory / "cluster.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class ClusterNodes:
    def __init__(self, directory: Path, redis_url: str, shows: int = 3, lease_seconds: float = LEASE_S) -> None:
        self.config = cluster_config(directory, shows, lease_seconds)
        self.redis_url = redis_url
        self.shows = [f"show-{i}" for i in range(shows)]
        self.procs: list[subprocess.Popen[bytes] | None] = []
        self.urls: list[str] = []
        self.logs = directory

    def node_id(self, i: int) -> str:
        return f"node-{i}"

    async def start(self, count: int) -> None:
        for _ in range(count):
            self.spawn()
        await asyncio.gather(*(self.wait_up(i) for i in range(len(self.procs))))

    def spawn(self) -> int:
        i = len(self.procs)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [
            sys.executable, "-m", "orchestrator", "serve", "--config", str(self.config),
            "--redis", self.redis_url, "--listen", f"127.0.0.1:{port}",
            "--node-id", self.node_id(i), "--public-url", url,
        ]  # fmt: skip
        log = open(self.logs / f"node-{i}.log", "wb")  # noqa: SIM115 - the child owns it
        self.procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        self.urls.append(url)
        return i

    async def wait_up(self, i: int, timeout: float = 40) -> None:
        async with asyncio.timeout(timeout):
            while True:
                proc = self.procs[i]
                assert proc is not None and proc.poll() is None, f"node {i} exited: {self.log(i)}"
                try:
                    status, _ = await self.call(i, "GET", "/api/cluster")
                    if status == 200:
                        return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)

    def log(self, i: int) -> str:
        return (self.logs / f"node-{i}.log").read_text(errors="replace")[-3000:]

    def alive(self) -> list[int]:
        return [i for i, p in enumerate(self.procs) if p is not None and p.poll() is None]

    async def call(
        self, i: int, method: str, path: str, body: Any = None, *, redirects: bool = True, timeout: float = 5
    ) -> tuple[int, Any]:
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with (
            aiohttp.ClientSession(timeout=client_timeout) as http,
            http.request(method, self.urls[i] + path, json=body, headers=AUTH, allow_redirects=redirects) as res,
        ):
            if res.status in (301, 302, 303, 307, 308):
                return res.status, res.headers.get("Location")
            text = await res.text()
            try:
                import json

                return res.status, json.loads(text)
            except ValueError:
                return res.status, text

    async def running(self, i: int) -> set[str]:
        """The shows node ``i`` runs right now (its own /healthz lists only those)."""
        status, body = await self.call(i, "GET", "/healthz", timeout=2)
        return set(body["shows"]) if isinstance(body, dict) else set()

    async def owners(self, via: int) -> dict[str, str | None]:
        _, body = await self.call(via, "GET", "/api/cluster")
        return dict(body["owners"])

    async def wait_owned(self, via: int | None = None, timeout: float = 30, but: str | None = None) -> dict[str, str]:
        """Wait until every show runs on a live node (other than node id ``but``); {show: node id}."""
        deadline = time.monotonic() + timeout
        while True:
            i = via if via is not None else self.alive()[0]
            try:
                owners = await self.owners(i)
                live = {self.node_id(j) for j in self.alive()}
                if all(owners.get(s) in live and owners.get(s) != but for s in self.shows):
                    return {s: str(owners[s]) for s in self.shows}
            except (aiohttp.ClientError, TimeoutError, KeyError):
                pass
            assert time.monotonic() < deadline, f"shows not all owned: {owners if 'owners' in dir() else '?'}"
            await asyncio.sleep(0.1)

    def index(self, node: str) -> int:
        return int(node.rsplit("-", 1)[1])

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        assert proc is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def pause(self, i: int) -> None:
        proc = self.procs[i]
        assert proc is not None
        os.kill(proc.pid, signal.SIGSTOP)

    def resume(self, i: int) -> None:
        proc = self.procs[i]
        assert proc is not None
        os.kill(proc.pid, signal.SIGCONT)

    def close(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)  # a paused node runs again, to end
        stop_processes(self.procs, 15)


@contextlib.asynccontextmanager
async def running_cluster(directory: Path, shows: int, nodes: int, **options: Any) -> AsyncIterator[ClusterNodes]:
    """A redis-server of its own and ``nodes`` started nodes sharing it and ``shows`` shows
    (``options``: :class:`ClusterNodes`'s, e.g. ``lease_seconds``); the nodes, then redis, end on exit."""
    with RedisServer() as redis:
        cluster = ClusterNodes(directory, redis.url, shows=shows, **options)
        try:
            await cluster.start(nodes)
            yield cluster
        finally:
            cluster.close()
