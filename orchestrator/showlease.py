"""Who runs a show: a lease in Redis with a fencing token, one owner at a time.

Keys (``{prefix}`` as in :class:`orchestrator.redisstore.RedisStore`):

- ``{prefix}:show:{id}:lease``  ``"{node}|{token}"`` with a TTL (PX): the owner while it lives
- ``{prefix}:show:{id}:fence``  a counter: every acquisition INCRs it, and the new value is the
  owner's *fencing token*. The store refuses a state write whose token is not the current
  counter (:meth:`orchestrator.redisstore.RedisStore.fence`), so a node that lost its lease
  (paused, cut off) cannot write even if it still believes it owns the show: two writers
  cannot both succeed, whatever the clocks say (Kleppmann's fencing tokens).
- ``{prefix}:show:{id}:move``   a node id: the operator asked to move the show there (planned
  hand-over).
- ``{prefix}:show:{id}:ready``  a node id: that node has prepared the show (program running on
  the slate, no output) and waits for the lease; the owner then stops its outputs and hands the
  lease over in one script (:meth:`ShowLeases.hand_over`: a new fencing token, no moment
  without an owner and never two).

Every operation is one Lua script, so check and change are atomic in Redis.
The owner renews every ``ttl / 3``; a node that cannot renew for ``ttl`` stops the show's
outputs on its own (:class:`Held.valid_until`), before any other node can acquire.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

# KEYS: lease, fence; ARGV: node, ttl ms. Returns the token (>0) if this node holds the lease now
# (newly acquired, or already its own: renewed), else 0.
_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local node, token = string.match(cur, '^(.*)|(%d+)$')
  if node == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(token)
  end
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
"""

# KEYS: lease; ARGV: "node|token", ttl ms. 1 renewed, 0 not ours any more.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease; ARGV: "node|token". Deletes only our own lease.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


# KEYS: lease, fence, move, ready; ARGV: "node|token" (ours), target node, ttl ms. The target's new
# token (>0) if we still held the lease, else 0 (nothing changed).
_HAND_OVER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2] .. '|' .. token, 'PX', ARGV[3])
redis.call('DEL', KEYS[3], KEYS[4])
return token
"""


@dataclass
class Held:
    """A lease this node holds: ``token`` fences its writes; past ``valid_until`` (monotonic
    seconds, counted from the *start* of the last successful renewal) it must stop the show."""

    show: str
    token: int
    valid_until: float


@dataclass(frozen=True)
class Owner:
    node: str
    token: int


class ShowLeases:
    """The lease operations for one node (``node`` id) over a shared Redis client."""

    def __init__(self, redis: aioredis.Redis, node: str, ttl: float, prefix: str = "broadcast") -> None:
        if "|" in node:
            raise ValueError("a node id must not contain '|'")
        self.redis = redis
        self.node = node
        self.ttl = ttl
        self.prefix = prefix
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._hand_over = redis.register_script(_HAND_OVER)

    def lease_key(self, show: str) -> str:
        return f"{self.prefix}:show:{show}:lease"

    def fence_key(self, show: str) -> str:
        return f"{self.prefix}:show:{show}:fence"

    def move_key(self, show: str) -> str:
        return f"{self.prefix}:show:{show}:move"

    def ready_key(self, show: str) -> str:
        return f"{self.prefix}:show:{show}:ready"

    @property
    def _ttl_ms(self) -> int:
        return int(self.ttl * 1000)

    async def acquire(self, show: str) -> Held | None:
        """Take the lease if nobody holds it (or renew it if we do); None if another node holds it."""
        started = time.monotonic()
        token = int(
            await self._acquire(keys=[self.lease_key(show), self.fence_key(show)], args=[self.node, self._ttl_ms])
        )
        return Held(show, token, started + self.ttl) if token else None

    async def renew(self, held: Held) -> bool:
        """Extend ``held``; False (and ``held`` unchanged) once another node owns the show or it expired."""
        started = time.monotonic()
        ok = await self._renew(keys=[self.lease_key(held.show)], args=[f"{self.node}|{held.token}", self._ttl_ms])
        if ok:
            held.valid_until = started + self.ttl
        return bool(ok)

    async def release(self, held: Held) -> None:
        await self._release(keys=[self.lease_key(held.show)], args=[f"{self.node}|{held.token}"])

    async def owner(self, show: str) -> Owner | None:
        raw = await self.redis.get(self.lease_key(show))
        return parse_owner(raw)

    async def owners(self, shows: list[str]) -> dict[str, Owner | None]:
        if not shows:
            return {}
        raws = await self.redis.mget([self.lease_key(s) for s in shows])
        return {s: parse_owner(r) for s, r in zip(shows, raws, strict=True)}

    async def request_move(self, show: str, node: str) -> None:
        """Ask the owner to hand ``show`` to ``node`` (kept for a minute: a move nobody acts on lapses)."""
        await self.redis.set(self.move_key(show), node, ex=60)

    async def move_target(self, show: str) -> str | None:
        raw = await self.redis.get(self.move_key(show))
        return None if raw is None else str(raw)

    async def clear_move(self, show: str) -> None:
        await self.redis.delete(self.move_key(show))

    async def mark_ready(self, show: str) -> None:
        """This node has prepared ``show`` and waits for the lease (kept as long as a move request)."""
        await self.redis.set(self.ready_key(show), self.node, ex=60)

    async def ready(self, show: str) -> str | None:
        raw = await self.redis.get(self.ready_key(show))
        return None if raw is None else (raw.decode() if isinstance(raw, bytes) else str(raw))

    async def clear_ready(self, show: str) -> None:
        """Withdraw this node's readiness (only if it is this node's)."""
        if await self.ready(show) == self.node:
            await self.redis.delete(self.ready_key(show))

    async def hand_over(self, held: Held, target: str) -> int:
        """Give ``held``'s show to ``target`` at once: a new fencing token for it, and the move and
        ready marks cleared; 0 if this node no longer held the lease (nothing changed)."""
        show = held.show
        keys = [self.lease_key(show), self.fence_key(show), self.move_key(show), self.ready_key(show)]
        return int(await self._hand_over(keys=keys, args=[f"{self.node}|{held.token}", target, self._ttl_ms]))


def parse_owner(raw: str | bytes | None) -> Owner | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    node, _, token = text.rpartition("|")
    return Owner(node, int(token)) if token.isdigit() else None
