"""Redis Sentinel addresses in one URL, so ``server.redis_url`` names a highly available Redis.

``redis+sentinel://host:26379,host2:26379/mymaster/0``: the sentinels (port 26379 if left
out), the master's service name, the database (0 if left out). The client asks the sentinels
for the current master and follows a fail-over (redis-py's :class:`redis.asyncio.sentinel.Sentinel`).
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEME = "redis+sentinel://"
DEFAULT_PORT = 26379


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0


def parse_sentinel_url(url: str) -> SentinelTarget:
    """Raises ValueError with a readable reason."""
    if not url.startswith(SCHEME):
        raise ValueError(f"must start with {SCHEME}")
    hosts, _, path = url[len(SCHEME) :].partition("/")
    sentinels: list[tuple[str, int]] = []
    for item in hosts.split(","):
        if item.startswith("["):  # [IPv6]:port
            host, _, rest = item[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else str(DEFAULT_PORT)
        else:
            host, sep, port = item.partition(":")
            port = port if sep else str(DEFAULT_PORT)
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"sentinel {item!r} must be host or host:port (port 1-65535)")
        sentinels.append((host, int(port)))
    service, _, db = path.partition("/")
    if not service:
        raise ValueError("needs the master's name: redis+sentinel://host:26379/mymaster/0")
    db = db.strip("/")
    if db and not (db.isdigit() and int(db) < 2**31):
        raise ValueError(f"database {db!r} must be a number")
    return SentinelTarget(tuple(sentinels), service, int(db or 0))
