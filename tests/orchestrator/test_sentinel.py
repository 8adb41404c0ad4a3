"""Redis is not a single point of failure: a node on a Sentinel-watched Redis (one master, one
replica, one sentinel: real redis-server processes) keeps its show on air while the master is
SIGKILLed and the replica promoted, and its state carries on from the promoted replica."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from pathlib import Path

from tests.orchestrator.clusternodes import ClusterNodes
from tests.ports import free_port
from tests.redisserver import REDIS_SERVER, RedisServer, command, ping


class Sentinel:
    """``redis-server --sentinel`` watching ``master`` (quorum 1, down after 1 s), stopped by PID."""

    def __init__(self, master_port: int) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sentinel-test-"))
        conf = self.dir / "sentinel.conf"
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\n"
            "sentinel down-after-milliseconds mymaster 1000\n"
            "sentinel failover-timeout mymaster 5000\n"
        )
        self.proc = subprocess.Popen(
            [REDIS_SERVER, str(conf), "--sentinel", "--logfile", str(self.dir / "sentinel.log")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while not ping(self.port):
            assert self.proc.poll() is None and time.monotonic() < deadline, "sentinel did not start"
            time.sleep(0.05)

    def master_port(self) -> int:
        answer = subprocess.run(
            ["redis-cli", "-p", str(self.port), "SENTINEL", "get-master-addr-by-name", "mymaster"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return int(answer[1])

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)


async def test_a_redis_failover_mid_show_keeps_the_program_and_the_state(tmp_path: Path) -> None:
    with RedisServer() as master, RedisServer(args=("--replicaof", "127.0.0.1", str(master.port))) as replica:
        sentinel = Sentinel(master.port)
        url = f"redis+sentinel://127.0.0.1:{sentinel.port}/mymaster/0"
        # The lease outlasts the fail-over (about 1 s to notice, 1-2 s to promote).
        nodes = ClusterNodes(tmp_path, url, shows=1, lease_seconds=10)
        try:
            await nodes.start(1)
            await nodes.wait_owned()
            show = nodes.shows[0]
            status, body = await nodes.call(0, "POST", f"/api/shows/{show}/logo", {"on": True})
            assert status == 200, body
            assert command(master.port, "WAIT", "1", "2000") == b":1"  # on the replica too
            _, before = await nodes.call(0, "GET", "/healthz")
            master.kill()
            killed = time.monotonic()
            # The program keeps running on the node while Redis fails over ...
            async with asyncio.timeout(30):
                while sentinel.master_port() != replica.port:
                    assert show in await nodes.running(0)
                    await asyncio.sleep(0.2)
            promoted = time.monotonic() - killed
            # ... and commands work again against the promoted replica, with the state it kept.
            async with asyncio.timeout(30):
                while True:
                    status, body = await nodes.call(0, "POST", f"/api/shows/{show}/logo", {"on": False})
                    if status == 200:
                        break
                    assert status == 503, body
                    await asyncio.sleep(0.3)
            back = time.monotonic() - killed
            print(f"sentinel fail-over: promoted after {promoted:.1f} s, commands back after {back:.1f} s")
            _, state = await nodes.call(0, "GET", f"/api/shows/{show}")
            assert state["logo"] is False
            _, events = await nodes.call(0, "GET", f"/api/shows/{show}/events?limit=500")
            logos = [e["kind"] for e in events["events"] if e["kind"].startswith("logo.")]
            assert logos == ["logo.on", "logo.off"], logos
            _, after = await nodes.call(0, "GET", "/healthz")
            assert after["shows"][show]["ticks"] > before["shows"][show]["ticks"]
            assert show in await nodes.running(0)
        finally:
            nodes.close()
            sentinel.close()
