"""The nodes of a cluster: each one announces itself in Redis with its load, on a heartbeat.

Keys: ``{prefix}:node:{id}`` one JSON :class:`NodeInfo` with a TTL of three heartbeats (a node
that stops beating vanishes by itself); ``{prefix}:nodes`` the set of ids ever seen (pruned
of ids whose key has expired when read).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis.asyncio as aioredis


@dataclass(frozen=True)
class NodeInfo:
    """One node's announcement. ``cpu_headroom``: idle cores left (cores minus this process's
    CPU use over the last heartbeat, in cores, from ``os.times``); ``shows``: ids it owns."""

    id: str
    public_url: str
    cpu_headroom: float
    cores: int
    shows: tuple[str, ...] = ()
    studios: int = 0
    at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeInfo:
        return cls(
            id=str(data["id"]),
            public_url=str(data.get("public_url", "")),
            cpu_headroom=float(data.get("cpu_headroom", 0.0)),
            cores=int(data.get("cores", 1)),
            shows=tuple(data.get("shows") or ()),
            studios=int(data.get("studios", 0)),
            at=float(data.get("at", 0.0)),
        )


class CpuMeter:
    """This process's CPU use in cores since the last reading (user + system time over wall time)."""

    def __init__(self) -> None:
        self.cores = os.cpu_count() or 1
        self._last = self._read()

    @staticmethod
    def _read() -> tuple[float, float]:
        t = os.times()
        return t.user + t.system, time.monotonic()

    def headroom(self) -> float:
        cpu, wall = self._read()
        used = (cpu - self._last[0]) / max(wall - self._last[1], 1e-3)
        self._last = (cpu, wall)
        return max(0.0, self.cores - used)


class NodeRegistry:
    def __init__(self, redis: aioredis.Redis, prefix: str = "broadcast", ttl: float = 3.0) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl = ttl

    def node_key(self, node: str) -> str:
        return f"{self.prefix}:node:{node}"

    @property
    def set_key(self) -> str:
        return f"{self.prefix}:nodes"

    async def beat(self, info: NodeInfo) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.node_key(info.id), json.dumps(info.to_json()), px=int(self.ttl * 1000))
            pipe.sadd(self.set_key, info.id)
            await pipe.execute()

    async def leave(self, node: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.node_key(node))
            pipe.srem(self.set_key, node)
            await pipe.execute()

    async def nodes(self) -> list[NodeInfo]:
        """The live nodes, sorted by id."""
        ids = sorted(str(i.decode() if isinstance(i, bytes) else i) for i in await self.redis.smembers(self.set_key))
        if not ids:
            return []
        raws = await self.redis.mget([self.node_key(i) for i in ids])
        gone = [i for i, raw in zip(ids, raws, strict=True) if raw is None]
        if gone:
            await self.redis.srem(self.set_key, *gone)
        return [NodeInfo.from_json(json.loads(raw)) for raw in raws if raw is not None]


def most_headroom(nodes: list[NodeInfo]) -> NodeInfo | None:
    """Where a new show goes: the most idle cores, then the fewest shows, then the id (so every
    node computes the same answer from the same registry)."""
    if not nodes:
        return None
    return min(nodes, key=lambda n: (-round(n.cpu_headroom, 1), len(n.shows), n.id))
