"""One set of behavioural tests for every StateStore (memory and a real redis-server),
plus what only Redis has: other nodes, pub/sub watch, and Redis going away."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis

from orchestrator.memorystore import MemoryStore
from orchestrator.redisstore import RedisStore
from orchestrator.store import Event, ShowState, StoreUnavailable
from tests.redisserver import RedisServer, command
from tests.tcpfault import FaultProxy, parse_command

Store = MemoryStore | RedisStore
# Opens one more "server node" on the same backend. For memory every node is the same
# store (one process); for Redis each is its own client with its own connections.
OpenNode = Callable[[], Store]

SHOW = "wuhan-0510"


def append(name: str) -> Callable[[ShowState], ShowState]:
    return lambda s: dataclasses.replace(s, online=(*s.online, name))


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def prefix() -> str:
    # Tests share one redis-server; a fresh key prefix keeps them apart.
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["memory", "redis"])
async def open_node(request: pytest.FixtureRequest, redis_server: RedisServer, prefix: str) -> AsyncIterator[OpenNode]:
    opened: list[Store] = []
    memory = MemoryStore()

    def open_one() -> Store:
        store: Store = memory if request.param == "memory" else RedisStore(redis_server.url, prefix=prefix)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def redis_node(redis_server: RedisServer, prefix: str) -> AsyncIterator[Callable[[], RedisStore]]:
    opened: list[RedisStore] = []

    def open_one() -> RedisStore:
        opened.append(RedisStore(redis_server.url, prefix=prefix))
        return opened[-1]

    yield open_one
    for store in opened:
        await store.close()


# -- the same behaviour from every store ---------------------------------------------------


async def test_get_of_unknown_show_is_the_default_state(open_node: OpenNode) -> None:
    assert await open_node().get(SHOW) == ShowState(show=SHOW, version=0)


async def test_update_applies_change_to_latest_state_and_bumps_version(open_node: OpenNode) -> None:
    store = open_node()
    seen: list[ShowState] = []

    def cut(s: ShowState) -> ShowState:
        seen.append(s)
        # The store owns `version`: whatever the change sets there is replaced.
        return dataclasses.replace(s, program="beijing", version=99)

    first = await store.update(SHOW, cut)
    assert first == ShowState(show=SHOW, program="beijing", version=1)
    second = await store.update(SHOW, lambda s: dataclasses.replace(s, preview="hongkong"))
    assert second == ShowState(show=SHOW, program="beijing", preview="hongkong", version=2)
    assert seen == [ShowState(show=SHOW)]
    assert await store.get(SHOW) == second
    assert await store.get("other-show") == ShowState(show="other-show")


async def test_failing_change_stores_nothing(open_node: OpenNode) -> None:
    store = open_node()

    def broken(s: ShowState) -> ShowState:
        raise LookupError("no such studio")

    with pytest.raises(LookupError):
        await store.update(SHOW, broken)
    assert (await store.get(SHOW)).version == 0
    # ...and the store is still usable (lock released, transaction reset).
    assert (await store.update(SHOW, append("beijing"))).online == ("beijing",)


async def test_concurrent_updates_from_two_nodes_lose_nothing(open_node: OpenNode) -> None:
    a, b = open_node(), open_node()
    names = [f"{node}{i}" for i in range(50) for node in "ab"]
    # All 100 at once: 50 per node racing each other and the other node.
    await asyncio.gather(*((a if n[0] == "a" else b).update(SHOW, append(n)) for n in names))
    final = await a.get(SHOW)
    assert final.version == 100
    # Every change applied exactly once: none lost, none applied twice.
    assert sorted(final.online) == sorted(names)
    assert await b.get(SHOW) == final


async def test_events_newest_last_with_limit(open_node: OpenNode) -> None:
    store = open_node()
    for i in range(5):
        await store.add_event(Event(f"e{i}", SHOW, "operator", {"n": i, "名": "汪集鸡汤"}, at=1000.0 + i / 3))
    await store.add_event(Event("elsewhere", "other-show"))

    everything = await store.events(SHOW)
    assert [e.kind for e in everything] == ["e0", "e1", "e2", "e3", "e4"]
    assert everything[1] == Event("e1", SHOW, "operator", {"n": 1, "名": "汪集鸡汤"}, at=1000.0 + 1 / 3)
    assert [e.kind for e in await store.events(SHOW, limit=3)] == ["e2", "e3", "e4"]
    assert [e.kind for e in await store.events(SHOW, limit=50)] == ["e0", "e1", "e2", "e3", "e4"]
    assert await store.events(SHOW, limit=0) == []
    assert [e.kind for e in await store.events("other-show")] == ["elsewhere"]
    assert await store.events("quiet-show") == []


async def test_events_are_capped_keeping_the_newest(open_node: OpenNode) -> None:
    store = open_node()
    store.EVENTS_KEPT = 4  # the real cap is 10,000; same code path
    for i in range(7):
        await store.add_event(Event(f"e{i}", SHOW))
    assert [e.kind for e in await store.events(SHOW, limit=100)] == ["e3", "e4", "e5", "e6"]


async def test_a_restarted_node_sees_the_state(open_node: OpenNode) -> None:
    first = open_node()
    state = await first.update(SHOW, lambda s: dataclasses.replace(s, program="beijing", online=("beijing",)))
    await first.add_event(Event("program.cut", SHOW, "operator", {"studio": "beijing"}))
    await first.close()

    second = open_node()
    assert await second.get(SHOW) == state
    assert [(e.kind, e.detail) for e in await second.events(SHOW)] == [("program.cut", {"studio": "beijing"})]
    assert (await second.update(SHOW, append("hongkong"))).version == 2


async def test_a_store_older_than_the_writer_is_restored_not_obeyed(open_node: OpenNode) -> None:
    store = open_node()
    for change in (append("beijing"), lambda s: dataclasses.replace(s, program="beijing", link_gens={"wuhan": 2})):
        known = await store.update(SHOW, change)
    assert known.version == 2
    # The store loses data (Redis restarted from an old snapshot): version 1, or the show gone.
    older = ShowState(SHOW, online=("beijing",), program="hongkong", version=1, link_gens={"wuhan": 1, "hk": 3})
    for stale in (older, None):
        await _force(store, stale)
        done = await store.commit(SHOW, lambda s: dataclasses.replace(s, preview="wuhan"), known)
        # The change applies on top of what the writer knew, never on the stale state...
        assert done.state.program == "beijing" and done.state.preview == "wuhan"
        assert done.state.version == known.version + 1
        # ...the writer learns what it replaced, and no join link generation goes backwards.
        assert done.replaced == (older if stale else ShowState(SHOW))
        assert done.state.link_gens == ({"wuhan": 2, "hk": 3} if stale else {"wuhan": 2})
        assert await store.get(SHOW) == done.state
    # A writer that knows less than the store is an ordinary writer: nothing replaced.
    done = await store.commit(SHOW, append("hongkong"), ShowState(SHOW, version=1))
    assert done.replaced is None and done.state.preview == "wuhan"


async def _force(store: Store, state: ShowState | None) -> None:
    """Make the stored state ``state`` (None: gone) behind the store's back, as a data loss would."""
    if isinstance(store, MemoryStore):
        store._states.pop(SHOW, None)
        if state is not None:
            store._states[SHOW] = state
        return
    client = redis.asyncio.Redis.from_url(_url(store))
    try:
        if state is None:
            await client.delete(store.state_key(SHOW))
        else:
            await client.set(store.state_key(SHOW), json.dumps(state.to_json()))
    finally:
        await client.aclose()


def _url(store: RedisStore) -> str:
    kw = store._redis.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/{kw.get('db', 0)}"


async def test_the_same_event_written_twice_is_kept_once(open_node: OpenNode) -> None:
    store = open_node()
    event = Event("program.cut", SHOW, "operator", {"studio": "beijing"}, at=1000.0)
    await store.add_event(event)
    await store.add_event(event)  # a retry after the answer to the first write was lost
    await store.add_event(Event("program.cut", SHOW, "operator", {"studio": "beijing"}, at=1001.0))
    assert [e.at for e in await store.events(SHOW)] == [1000.0, 1001.0]


# -- Redis only ---------------------------------------------------------------------------


def test_bad_url_is_refused_at_construction() -> None:
    for url in ("http://127.0.0.1:6379", "127.0.0.1:6379", "redis://127.0.0.1:notaport/0"):
        with pytest.raises(ValueError):
            RedisStore(url)


async def test_keys_follow_the_documented_layout(
    redis_node: Callable[[], RedisStore], redis_server: RedisServer
) -> None:
    store = redis_node()
    await store.update(SHOW, append("beijing"))
    await store.add_event(Event("studio.joined", SHOW))
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        assert sorted(client.keys(f"{store.prefix}:*")) == [
            f"{store.prefix}:show:{SHOW}:events",
            f"{store.prefix}:show:{SHOW}:state",
        ]
    finally:
        client.close()


async def test_update_redoes_change_when_another_node_commits_in_between(
    redis_node: Callable[[], RedisStore], redis_server: RedisServer
) -> None:
    store = redis_node()
    other_node = redis.Redis.from_url(redis_server.url, decode_responses=True)
    calls: list[ShowState] = []

    def change(s: ShowState) -> ShowState:
        calls.append(s)
        if len(calls) == 1:
            # Another node commits after our read but before our EXEC: WATCH must notice.
            other_node.set(store.state_key(SHOW), json.dumps(ShowState(SHOW, online=("other",), version=1).to_json()))
        return dataclasses.replace(s, online=(*s.online, "mine"))

    try:
        new = await store.update(SHOW, change)
    finally:
        other_node.close()
    assert [c.version for c in calls] == [0, 1]
    assert new == ShowState(SHOW, online=("other", "mine"), version=2)
    assert await store.get(SHOW) == new


async def test_watch_follows_updates_from_another_node(redis_node: Callable[[], RedisStore]) -> None:
    follower, leader = redis_node(), redis_node()
    follower.WATCH_PING_SECONDS = 0.1  # a quiet but healthy connection must survive its pings
    await leader.update(SHOW, append("beijing"))
    changes = follower.watch(SHOW)
    try:
        async with asyncio.timeout(3):
            # First the current state; from then on the subscription is live.
            assert (await anext(changes)).online == ("beijing",)
            waiting = asyncio.ensure_future(anext(changes))
            await asyncio.sleep(0.5)  # several ping/pong rounds with nothing to report
            assert not waiting.done()
            await leader.update(SHOW, lambda s: dataclasses.replace(s, preview="hongkong"))
            assert (await waiting).preview == "hongkong"
            await leader.update(SHOW, lambda s: dataclasses.replace(s, program="beijing"))
            await leader.update(SHOW, append("hongkong"))
            await leader.update("other-show", append("nobody"))  # another show's channel
            assert await anext(changes) == ShowState(
                SHOW, program="beijing", preview="hongkong", online=("beijing",), version=3
            )
            assert await anext(changes) == ShowState(
                SHOW, program="beijing", preview="hongkong", online=("beijing", "hongkong"), version=4
            )
    finally:
        await changes.aclose()


async def fails_fast(call: Awaitable[Any], within: float = 5.0) -> None:
    """The call must raise StoreUnavailable, and soon: a hang fails the test too.

    ``within``: two 1 s socket timeouts (a frozen server mid-commit) plus 3 s for a loaded
    2-core box; a hang is unbounded, so the margin does not hide one.
    """
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(call, timeout=within + 5)
    assert time.monotonic() - started < within


async def test_redis_stopped_raises_store_unavailable_then_recovers(
    redis_node: Callable[[], RedisStore], redis_server: RedisServer
) -> None:
    store = redis_node()
    # Several pooled connections, which all go stale when Redis stops.
    await asyncio.gather(*(store.update(f"show-{i}", append("beijing")) for i in range(4)))
    changes = store.watch(SHOW)
    await anext(changes)
    redis_server.stop()
    try:
        await fails_fast(anext(changes))
        await fails_fast(store.get(SHOW))
        await fails_fast(store.update(SHOW, append("hongkong")))
        await fails_fast(store.add_event(Event("x", SHOW)))
        await fails_fast(store.events(SHOW))
        await fails_fast(anext(store.watch(SHOW)))
    finally:
        redis_server.start()  # same port, empty (no persistence)
    # The same store object works again, on every pooled connection: no restart of the node needed.
    assert await asyncio.gather(*(store.get(f"show-{i}") for i in range(4))) == [
        ShowState(f"show-{i}") for i in range(4)
    ]
    assert await store.get(SHOW) == ShowState(SHOW)
    assert (await store.update(SHOW, append("hongkong"))).version == 1
    await store.add_event(Event("x", SHOW))
    assert [e.kind for e in await store.events(SHOW)] == ["x"]
    again = store.watch(SHOW)
    assert (await anext(again)).version == 1
    await again.aclose()


async def test_redis_frozen_raises_store_unavailable_instead_of_hanging(
    redis_node: Callable[[], RedisStore], redis_server: RedisServer
) -> None:
    store = redis_node()
    store.WATCH_PING_SECONDS = 0.3  # detect a silent server quickly in the test
    await store.update(SHOW, append("beijing"))
    changes = store.watch(SHOW)
    await anext(changes)
    redis_server.pause()  # connections still open, nothing answers: only timeouts can save us
    try:
        await fails_fast(anext(changes))
        await fails_fast(store.get(SHOW))
        await fails_fast(store.update(SHOW, append("hongkong")))
    finally:
        redis_server.resume()
    assert await store.get(SHOW) == ShowState(SHOW, online=("beijing",), version=1)
    assert (await store.update(SHOW, append("hongkong"))).version == 2


async def test_redis_freezing_mid_update_is_reported_not_reapplied(
    redis_node: Callable[[], RedisStore], redis_server: RedisServer
) -> None:
    store = redis_node()
    calls = 0

    def change(s: ShowState) -> ShowState:
        nonlocal calls
        calls += 1
        if calls == 1:
            redis_server.pause()  # after our read: the commit is sent but never answered
        return dataclasses.replace(s, program="beijing")

    try:
        # Read timeout plus redis-py's close timeout: about two socket timeouts.
        await fails_fast(store.update(SHOW, change), within=2.5)
    finally:
        redis_server.resume()
    # Whether Redis ran the orphaned commit when it woke up or not, the change was not applied twice.
    assert calls == 1
    assert await store.get(SHOW) in (ShowState(SHOW), ShowState(SHOW, program="beijing", version=1))


def test_proxy_parses_commands_split_anywhere() -> None:
    wire = b"*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n*1\r\n$4\r\nEXEC\r\nPING\r\n"
    assert parse_command(wire) == ([b"GET", b"key:1"], 24)
    assert parse_command(wire, 24) == ([b"EXEC"], 38)
    assert parse_command(wire, 38) == ([b"PING"], len(wire))
    for cut in range(1, 24):
        assert parse_command(wire[:cut]) is None


@pytest.mark.parametrize("forward", [False, True])
async def test_connection_lost_during_exec_is_resolved_not_guessed(redis_server: RedisServer, forward: bool) -> None:
    """EXEC cut before Redis sees it: not stored, StoreUnavailable. EXEC run but its answer lost:
    stored, and the writer is told so (a 503 there would be a lie)."""
    with FaultProxy(redis_server.port) as proxy:
        store = RedisStore(proxy.url, prefix=f"test-{uuid.uuid4().hex[:10]}")
        try:
            await store.update(SHOW, append("beijing"))
            proxy.cut_at("EXEC", forward=forward)
            if forward:
                done = await store.commit(SHOW, append("hongkong"))
                assert done.state.online == ("beijing", "hongkong")
            else:
                with pytest.raises(StoreUnavailable, match="not stored"):
                    await store.commit(SHOW, append("hongkong"))
            assert proxy.fired.is_set()
            stored = await store.get(SHOW)
            assert stored.online == (("beijing", "hongkong") if forward else ("beijing",))
        finally:
            await store.close()


async def test_redis_refusing_writes_is_unavailable_and_stores_nothing() -> None:
    """Out of memory under noeviction (configs/redis.conf): a 503, never a silent eviction or a 500."""
    with RedisServer() as server:
        store = RedisStore(server.url)
        try:
            await store.update(SHOW, append("beijing"))
            assert command(server.port, "CONFIG", "SET", "maxmemory", "1") == b"+OK"
            with pytest.raises(StoreUnavailable, match="maxmemory"):
                await store.update(SHOW, append("hongkong"))
            with pytest.raises(StoreUnavailable, match="maxmemory"):
                await store.add_event(Event("x", SHOW))
            assert command(server.port, "CONFIG", "SET", "maxmemory", "0") == b"+OK"
            assert await store.get(SHOW) == ShowState(SHOW, online=("beijing",), version=1)
            assert await store.events(SHOW) == []
        finally:
            await store.close()
