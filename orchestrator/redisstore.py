"""Show state in Redis, so several server nodes share one show.

Keys (``{prefix}`` defaults to ``broadcast``):

- ``{prefix}:show:{id}:state``   one JSON string, the latest :class:`ShowState`
- ``{prefix}:show:{id}:events``  a list of :class:`Event` JSON, oldest first, capped
- ``{prefix}:show:{id}:changes`` pub/sub channel; every update publishes the new state JSON

Behaves like :class:`orchestrator.memorystore.MemoryStore`; in addition every
Redis failure (refused, reset, timed out) surfaces as :class:`StoreUnavailable`
within one socket timeout (two if Redis hangs in the middle of a commit), never as a hang.

Writes are compare-and-set: the state under WATCH/MULTI (a rollback found inside it is
repaired, see :func:`orchestrator.store.next_state`), events through a Lua script that
skips an event already among the newest (a retried write). A connection lost while EXEC
was in flight is resolved by reading the state back: stored means done, not stored means
not done; only when even that read fails is the outcome unknown (StoreUnavailable).

Fencing (a cluster, orchestrator/showlease.py): after :meth:`RedisStore.fence` a show's state
and event writes carry the node's fencing token and commit only while ``{prefix}:show:{id}:fence``
still equals it (the fence key is WATCHed with the state; the event script compares it), so a
node whose lease was taken over cannot write: :class:`orchestrator.store.Fenced`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from orchestrator.redisclient import connect
from orchestrator.store import (
    DEDUPE_WINDOW,
    Change,
    Commit,
    Event,
    Fenced,
    ShowState,
    StateStore,
    StoreOutcomeUnknown,
    StoreUnavailable,
    next_state,
)

T = TypeVar("T")

# redis-py wraps socket errors in these two; OSError covers anything it lets through.
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


# KEYS[1] events list; ARGV: event JSON, cap, dedupe window. Atomic, so the list never
# exceeds the cap even for a moment, and a retried write of the same event is a no-op.
# Fenced: KEYS[2] the fence counter, ARGV[4] the writer's token; -1 (nothing written) if stale.
_ADD_EVENT = """
if KEYS[2] and redis.call('GET', KEYS[2]) ~= ARGV[4] then return -1 end
local recent = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[3]), -1)
for _, e in ipairs(recent) do
  if e == ARGV[1] then return 0 end
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
return 1
"""


def _event_from_json(data: dict[str, Any]) -> Event:
    return Event(
        kind=data["kind"],
        show=data["show"],
        actor=data.get("actor", "system"),
        detail=dict(data.get("detail") or {}),
        at=float(data["at"]),
    )


class RedisStore(StateStore):
    """:class:`StateStore` on Redis at ``url`` (keys under ``prefix``); ``timeout``: seconds per
    socket operation. Raises ValueError for a malformed URL; every call raises
    :class:`StoreUnavailable` (or :class:`Fenced`) as the module docstring says."""

    EVENTS_KEPT = 10_000
    # Conflicts only come from other nodes (one node serialises its own updates), so a few
    # retries are plenty; the bound keeps a pathological writer from spinning us forever.
    UPDATE_ATTEMPTS = 100
    # A watcher pings Redis after this much silence; no pong by the next tick means the
    # connection is dead even though TCP has not noticed (server frozen, network cut).
    WATCH_PING_SECONDS = 5.0

    def __init__(self, url: str, prefix: str = "broadcast", *, timeout: float = 1.0) -> None:
        self.prefix = prefix
        # Validates the URL here (ValueError); does not connect (orchestrator/redisclient.py).
        self._redis: aioredis.Redis = connect(url, timeout)
        self._locks: dict[str, asyncio.Lock] = {}
        self._fences: dict[str, int] = {}  # show -> this node's fencing token (a cluster's lease)
        # EVALSHA, loading the script again after a Redis restart (NOSCRIPT).
        self._add_event = self._redis.register_script(_ADD_EVENT)

    # -- keys ------------------------------------------------------------------------------

    def _key(self, show: str, what: str) -> str:
        return f"{self.prefix}:show:{show}:{what}"

    def state_key(self, show: str) -> str:
        return self._key(show, "state")

    def events_key(self, show: str) -> str:
        return self._key(show, "events")

    def changes_channel(self, show: str) -> str:
        return self._key(show, "changes")

    def fence_key(self, show: str) -> str:
        return self._key(show, "fence")

    def fence(self, show: str, token: int | None) -> None:
        """Write ``show`` only while its fence counter equals ``token`` (None: unfenced, one node)."""
        if token is None:
            self._fences.pop(show, None)
        else:
            self._fences[show] = token

    def _check_fence(self, show: str, stored: str | bytes | None) -> None:
        token = self._fences.get(show)
        current = stored.decode() if isinstance(stored, bytes) else stored
        if token is not None and str(token) != current:
            raise Fenced(f"show {show!r}: this node's lease (token {token}) was taken over (fence {current})")

    # -- StateStore ----------------------------------------------------------------------------

    async def _again(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, once more on a fresh connection if the pooled one turned out dead (Redis
        restarted since it was last used). Only for idempotent calls: reads, SET, and the event
        script (which skips an event already written)."""
        try:
            return await call()
        except RedisConnectionError:
            return await self._call(call())

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except _UNAVAILABLE as e:
            raise StoreUnavailable(f"redis: {e}") from e
        except ResponseError as e:
            # Redis refusing writes: OOM under noeviction, MISCONF after a failed snapshot,
            # READONLY on a replica. The write did not happen (an EXEC is refused whole).
            raise StoreUnavailable(f"redis refused: {e}") from e

    @staticmethod
    def _state(show: str, raw: str | bytes | None) -> ShowState:
        return ShowState.from_json(json.loads(raw)) if raw else ShowState(show=show)

    async def get(self, show: str) -> ShowState:
        raw = await self._call(self._again(lambda: self._redis.get(self.state_key(show))))
        return self._state(show, raw)

    async def commit(self, show: str, change: Change, known: ShowState | None = None) -> Commit:
        # Updates from this node queue locally: WATCH then only has to arbitrate between nodes.
        lock = self._locks.setdefault(show, asyncio.Lock())
        async with lock:
            return await self._call(self._commit(show, change, known))

    async def _commit(self, show: str, change: Change, known: ShowState | None) -> Commit:
        key, channel = self.state_key(show), self.changes_channel(show)
        fresh_tries = 1  # a pooled connection found dead before EXEC: nothing was sent, try a new one
        async with self._redis.pipeline(transaction=True) as pipe:
            for attempt in range(self.UPDATE_ATTEMPTS):
                sent: tuple[Commit, str] | None = None
                try:
                    if show in self._fences:
                        fence = self.fence_key(show)
                        await pipe.watch(key, fence)  # a take-over between here and EXEC aborts EXEC
                        self._check_fence(show, await pipe.get(fence))
                    else:
                        await pipe.watch(key)
                    done = next_state(self._state(show, await pipe.get(key)), change, known)
                    data = _dumps(done.state.to_json())
                    pipe.multi()
                    pipe.set(key, data)
                    pipe.publish(channel, data)
                    sent = (done, data)
                    await pipe.execute()
                    return done
                except WatchError as e:
                    if isinstance(e.__context__, _UNAVAILABLE):
                        # redis-py reports a connection lost while watching as WatchError.
                        if sent is None and isinstance(e.__context__, RedisConnectionError) and fresh_tries:
                            fresh_tries -= 1
                            await pipe.reset()
                            continue
                        return await self._resolve(key, sent, e.__context__)
                    # Another node wrote first: re-read and re-apply. Jitter keeps two nodes
                    # from colliding in lockstep.
                    await asyncio.sleep(random.uniform(0, 0.001 * min(attempt + 1, 20)))
                except _UNAVAILABLE as e:
                    if sent is None and isinstance(e, RedisConnectionError) and fresh_tries:
                        fresh_tries -= 1
                        await pipe.reset()
                        continue
                    return await self._resolve(key, sent, e)
        raise StoreUnavailable(f"update of {show!r} lost {self.UPDATE_ATTEMPTS} races in a row")

    async def _resolve(self, key: str, sent: tuple[Commit, str] | None, exc: BaseException) -> Commit:
        """The connection failed; if EXEC was sent, find out whether it committed.

        Re-applying the change could apply it twice, and answering "not stored" for a change
        that was stored would lie; so read the state back over a fresh connection: our exact
        JSON there means done. A timeout is not retried (a frozen server would double the wait).
        """
        if sent is None or isinstance(exc, RedisTimeoutError):
            raise StoreUnavailable(f"redis: {exc}") from exc
        done, data = sent
        try:
            raw = await self._again(lambda: self._redis.get(key))
        except (StoreUnavailable, *_UNAVAILABLE) as again:
            message = f"redis: {exc}; whether the write was stored is unknown: {again}"
            raise StoreOutcomeUnknown(message, done.state) from exc
        if raw == data:
            return done
        raise StoreUnavailable(f"redis: {exc} (the write was not stored)") from exc

    async def add_event(self, event: Event) -> None:
        args: list[str | int] = [_dumps(event.to_json()), self.EVENTS_KEPT, DEDUPE_WINDOW]
        keys = [self.events_key(event.show)]
        token = self._fences.get(event.show)
        if token is not None:
            keys.append(self.fence_key(event.show))
            args.append(str(token))
        done = await self._call(self._again(lambda: self._add_event(keys=keys, args=args)))
        if done == -1:
            self._check_fence(event.show, await self._call(self._redis.get(self.fence_key(event.show))))

    async def events(self, show: str, limit: int = 100) -> list[Event]:
        if limit <= 0:
            return []
        key = self.events_key(show)
        raws: list[str | bytes] = await self._call(self._again(lambda: self._redis.lrange(key, -limit, -1)))
        return [_event_from_json(json.loads(r)) for r in raws]

    def doc_key(self, show: str, name: str) -> str:
        return self._key(show, f"doc:{name}")

    async def get_doc(self, show: str, name: str) -> Any:
        raw = await self._call(self._again(lambda: self._redis.get(self.doc_key(show, name))))
        return None if raw is None else json.loads(raw)

    async def put_doc(self, show: str, name: str, value: Any) -> None:
        data = json.dumps(value, ensure_ascii=False)
        await self._call(self._again(lambda: self._redis.set(self.doc_key(show, name), data)))

    @property
    def client(self) -> aioredis.Redis:
        """The Redis client, shared with the node registry and the show leases."""
        return self._redis

    async def close(self) -> None:
        await self._redis.aclose()

    # -- following other nodes ------------------------------------------------------------

    async def watch(self, show: str) -> AsyncGenerator[ShowState, None]:
        """Yield the current state of ``show``, then every newer state any node stores.

        The first item arrives once the subscription is live, so an update made after it
        is never missed. Versions only go up (duplicates and stale messages are skipped).
        Raises :class:`StoreUnavailable` when Redis goes away; callers re-watch to resume.
        An async generator: ``aclose()`` it (or let it raise) to drop the subscription.
        """
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            # Subscribe before reading, so nothing can slip in between the read and the first message.
            await self._call(pubsub.subscribe(self.changes_channel(show)))
            current = await self.get(show)
            last = current.version
            yield current
            ping_pending = False
            while True:
                message = await self._call(pubsub.get_message(timeout=self.WATCH_PING_SECONDS))
                if message is None:
                    if ping_pending:
                        raise StoreUnavailable(f"redis: no answer to ping for {self.WATCH_PING_SECONDS} s")
                    await self._call(pubsub.ping())
                    ping_pending = True
                    continue
                ping_pending = False  # any traffic proves the connection is alive
                if message["type"] != "message":
                    continue
                state = ShowState.from_json(json.loads(message["data"]))
                if state.version > last:
                    last = state.version
                    yield state
        finally:
            with contextlib.suppress(*_UNAVAILABLE):
                await pubsub.aclose()
