"""The crew is told when the state store (Redis) cannot be reached, through a real redis-server
behind a fault-injecting proxy (tests/tcpfault.py).

A trial restarted a server while Redis was down: it started on the slate with none of the show's
state, every command was refused, and nothing but a 6 s toast said why. A store outage is now an
alarm like a lost studio: raised while the store is away, cleared when it answers again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.orchestrator.faultnode import SHOW, Node, Stored, start_node
from tests.redisserver import RedisServer
from tests.tcpfault import FaultProxy

API = f"/api/shows/{SHOW}"
ALARM = "store.unavailable"


@pytest.fixture
def proxy(redis: RedisServer) -> Iterator[FaultProxy]:
    with FaultProxy(redis.port) as p:
        yield p


async def store_alarm(node: Node, active: bool, timeout: float = 30) -> dict[str, Any]:
    """The store alarm as the API lists it, once it is there with ``active`` (``timeout`` s)."""
    async with asyncio.timeout(timeout):
        while True:
            status, state = await node.api("GET", API)  # answered from the node's memory: no Redis needed
            assert status == 200, state
            alarm = next((a for a in state["alarms"] if a["id"] == ALARM), None)
            if alarm is not None and alarm["active"] is active:
                return alarm  # type: ignore[no-any-return]
            await asyncio.sleep(0.1)


async def test_an_outage_raises_the_store_alarm_and_its_end_clears_it(
    tmp_path: Path, aiohttp_server: Any, proxy: FaultProxy, redis: RedisServer
) -> None:
    node = await start_node(tmp_path, aiohttp_server, proxy.url, "n")
    assert (await node.api("POST", API + "/cut", json={"studio": "alpha"}))[0] == 200
    _, state = await node.api("GET", API)
    assert not any(a["id"] == ALARM for a in state["alarms"]), state["alarms"]
    proxy.refuse()
    alarm = await store_alarm(node, active=True)
    assert "unreachable" in alarm["cause"] and "started without" not in alarm["cause"], alarm
    assert "Redis" in alarm["fix"], alarm
    status, answer = await node.api("POST", API + "/cut", json={"studio": "bravo"})
    assert status == 503, answer  # what the alarm warns of
    proxy.heal()
    await store_alarm(node, active=False)  # cleared, still listed until acknowledged
    await node.drained()
    stored = Stored(redis.url)
    try:
        raised = [e.detail for e in await stored.events() if e.kind == "alarm.raised"]
    finally:
        await stored.close()
    assert any(d["alarm"] == ALARM for d in raised), raised  # in the audit trail once Redis is back


async def test_a_server_started_while_the_store_is_away_says_so_until_it_has_the_state(
    tmp_path: Path, aiohttp_server: Any, proxy: FaultProxy
) -> None:
    first = await start_node(tmp_path, aiohttp_server, proxy.url, "first")
    assert (await first.api("POST", API + "/cut", json={"studio": "alpha"}))[0] == 200
    proxy.refuse()
    second = await start_node(tmp_path, aiohttp_server, proxy.url, "second")  # a restart into the outage
    alarm = await store_alarm(second, active=True, timeout=10)
    assert "started without the show's state, on the slate" in alarm["cause"], alarm
    _, state = await second.api("GET", API)
    assert state["program"] is None, state  # the slate: it cannot know the stored program yet
    proxy.heal()
    await store_alarm(second, active=False)
    _, state = await second.api("GET", API)
    assert state["program"] == "alpha", state  # the stored state arrived with the store
