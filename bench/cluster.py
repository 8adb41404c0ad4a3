"""A node's death in a cluster: how long until its shows are on air elsewhere.

    unshare -n sh -c 'scripts/loopback-net.sh && exec env PYTHONPATH=$PWD .venv/bin/python bench/cluster.py'
    ... bench/cluster.py --nodes 3 --shows 6 --lease 3

Starts N nodes (``python -m orchestrator serve --cluster``, one Redis, one shared data
directory) with S small shows (320x180 at 15 fps on the slate: the subject is placement, not
encoding), waits until every show is placed, SIGKILLs the node running the most shows, then
measures per show: the time until another node holds its lease, and until its HLS playlist
(at the same URL) has a new segment after the seam. Meanwhile every node's running shows are
sampled every 100 ms: a show running on two nodes at once is counted (must be 0). Then a
planned move of one show is timed the same way (the new node prepares first: its outputs
attach right after the lease changes hands, ``outputs_after_lease_s``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mixer.outputs.hlsplaylist import parse_playlist  # noqa: E402
from tests.orchestrator.clusternodes import ClusterNodes  # noqa: E402
from tests.redisserver import RedisServer  # noqa: E402


async def _sequence(nodes: ClusterNodes, via: int, show: str) -> int:
    try:
        status, text = await nodes.call(via, "GET", f"/live/{show}/index.m3u8", timeout=2)
        return parse_playlist(str(text)).next_sequence if status == 200 else -1
    except Exception:
        return -1


class DoubleWatch:
    """Samples every live node's running shows every 100 ms; counts shows seen on two nodes."""

    def __init__(self, nodes: ClusterNodes) -> None:
        self.nodes = nodes
        self.samples = 0
        self.doubles = 0
        self._task: asyncio.Future[None] | None = None

    async def _run(self) -> None:
        while True:
            alive = self.nodes.alive()
            results = await asyncio.gather(*(self.nodes.running(i) for i in alive), return_exceptions=True)
            seen: dict[str, int] = {}
            for shows in results:
                if isinstance(shows, set):
                    for s in shows:
                        seen[s] = seen.get(s, 0) + 1
            self.samples += 1
            self.doubles += sum(1 for n in seen.values() if n > 1)
            await asyncio.sleep(0.1)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def _back_on_air(
    nodes: ClusterNodes, shows: list[str], gone: str, t0: float, start_seq: dict[str, int]
) -> dict[str, dict[str, float]]:
    """Per show: seconds from ``t0`` until owned by a node other than ``gone``, and until its HLS
    playlist has two segments more than ``start_seq`` (read before the event: the seam is behind)."""
    via = nodes.alive()[0]
    owned: dict[str, float] = {}
    on_air: dict[str, float] = {}
    async with asyncio.timeout(60):
        while len(on_air) < len(shows):
            owners = await nodes.owners(via)
            for s in shows:
                if s not in owned and owners.get(s) not in (None, gone):
                    owned[s] = time.monotonic() - t0
                if s in owned and s not in on_air:
                    owner = nodes.index(str(owners[s]))
                    if await _sequence(nodes, owner, s) > start_seq[s] + 1:
                        on_air[s] = time.monotonic() - t0
            await asyncio.sleep(0.1)
    return {s: {"owned_s": round(owned[s], 2), "hls_new_segment_s": round(on_air[s], 2)} for s in shows}


async def main(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp, RedisServer() as redis:
        nodes = ClusterNodes(Path(tmp), redis.url, shows=args.shows, lease_seconds=args.lease)
        watch = DoubleWatch(nodes)
        try:
            t = time.monotonic()
            await nodes.start(args.nodes)
            placed = await nodes.wait_owned(timeout=120)
            placement_s = time.monotonic() - t
            spread = {n: sorted(s for s, o in placed.items() if o == n) for n in sorted(set(placed.values()))}
            await asyncio.sleep(2 * 1.0 + 1)  # a couple of HLS segments on air
            watch.start()
            victim = max(spread, key=lambda n: len(spread[n]))
            victim_shows = spread[victim]
            seq = {s: await _sequence(nodes, nodes.index(victim), s) for s in victim_shows}
            t0 = time.monotonic()
            nodes.kill(nodes.index(victim))
            killed = await _back_on_air(nodes, victim_shows, victim, t0, seq)
            # A planned move: one show to another live node.
            await nodes.wait_owned(timeout=60)
            show = victim_shows[0]
            owners = await nodes.owners(nodes.alive()[0])
            source = nodes.index(str(owners[show]))
            target = next(nodes.node_id(i) for i in nodes.alive() if nodes.node_id(i) != owners[show])
            seq = {show: await _sequence(nodes, source, show)}
            t1 = time.monotonic()
            status, body = await nodes.call(source, "POST", f"/api/shows/{show}/move", {"node": target})
            assert status == 202, body
            moved = await _back_on_air(nodes, [show], str(owners[show]), t1, seq)
            new_owner = nodes.index(str((await nodes.owners(nodes.alive()[0]))[show]))
            _, events = await nodes.call(new_owner, "GET", f"/api/shows/{show}/events?limit=500")
            placed = [e["detail"] for e in events["events"] if e["kind"] == "cluster.placed"][-1]
            # Planned: the new node prepared the show before the lease came, so its outputs attach
            # at once ("start_s" after the lease), where a take-over starts the whole show.
            moved[show]["prepared"] = placed.get("prepared", False)
            moved[show]["outputs_after_lease_s"] = placed["start_s"]
            await asyncio.sleep(1)
            await watch.stop()
        finally:
            await watch.stop()
            nodes.close()
    worst = max(v["owned_s"] for v in killed.values())
    return {
        "nodes": args.nodes,
        "shows": args.shows,
        "lease_s": args.lease,
        "placement_all_shows_s": round(placement_s, 2),
        "spread": {n: len(s) for n, s in spread.items()},
        "killed_node_shows": len(victim_shows),
        "takeover": killed,
        "takeover_worst_owned_s": worst,
        "takeover_worst_hls_s": max(v["hls_new_segment_s"] for v in killed.values()),
        "planned_move": moved[show],
        "ownership_samples": watch.samples,
        "double_owned_samples": watch.doubles,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--shows", type=int, default=6)
    parser.add_argument("--lease", type=float, default=3.0, help="server.lease_seconds")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
