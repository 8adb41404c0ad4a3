"""State in Redis: a restart or a second node loses nothing, and Redis going
away never stops the program."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.orchestrator.faultnode import start_node
from tests.redisserver import RedisServer


async def test_restart_and_second_node_keep_state(tmp_path: Path, aiohttp_server: Any, redis: RedisServer) -> None:
    a = await start_node(tmp_path, aiohttp_server, redis.url, "a")
    assert (await a.api("POST", "/api/shows/test-show/cut", json={"studio": "alpha"}))[0] == 200
    assert (await a.api("POST", "/api/shows/test-show/preview", json={"studio": "bravo"}))[0] == 200
    assert (await a.api("POST", "/api/shows/test-show/cards", json={"product": "soup"}))[0] == 200
    _, events = await a.api("GET", "/api/shows/test-show/events")
    assert not [e for e in events["events"] if e["kind"] == "show.started"]  # a first start is no break
    # A second node sees the same show state and follows later changes.
    b = await start_node(tmp_path, aiohttp_server, redis.url, "b")
    _, state = await b.api("GET", "/api/shows/test-show")
    assert (state["program"], state["preview"]) == ("alpha", "bravo")
    assert (await a.api("POST", "/api/shows/test-show/cut", json={"studio": "bravo"}))[0] == 200
    await b.wait_for(lambda s: s["program"] == "bravo", timeout=5)
    # A restart of node A: state and the audit trail come back from Redis.
    await a.srv.close()
    a2 = await start_node(tmp_path, aiohttp_server, redis.url, "a2")
    _, state = await a2.api("GET", "/api/shows/test-show")
    assert state["program"] == "bravo"
    _, events = await a2.api("GET", "/api/shows/test-show/events")
    cuts = [e["detail"]["studio"] for e in events["events"] if e["kind"] == "program.cut"]
    assert cuts == ["alpha", "bravo"]
    # The restart is in the audit trail (the CSV of what was on air shows the break), with what
    # went on air again: a trial found a card "on air" without a break across a SIGKILL.
    restart = [e for e in events["events"] if e["kind"] == "show.started"][-1]
    assert restart["actor"] == "system" and restart["detail"]["program"] == "bravo", restart
    assert restart["detail"]["cards"] == ["main"], restart


async def test_redis_going_away_does_not_stop_the_program(
    tmp_path: Path, aiohttp_server: Any, redis: RedisServer
) -> None:
    node = await start_node(tmp_path, aiohttp_server, redis.url, "n")
    assert (await node.api("POST", "/api/shows/test-show/cut", json={"studio": "alpha"}))[0] == 200
    redis.stop()
    _, before = await node.api("GET", "/api/shows/test-show")
    status, body = await node.api("POST", "/api/shows/test-show/cut", json={"studio": "bravo"})
    assert status == 503 and "unavailable" in body["error"]
    await asyncio.sleep(1.0)
    _, after = await node.api("GET", "/api/shows/test-show")
    # The clock kept ticking at full rate and the program is unchanged.
    assert after["mixer"]["ticks"] - before["mixer"]["ticks"] >= 25
    assert after["program"] == "alpha"
    redis.start()
    status, body = await node.api("POST", "/api/shows/test-show/cut", json={"studio": "bravo"})
    assert status == 200 and body["program"] == "bravo"


async def test_rtmp_destinations_set_through_the_api_survive_a_restart(
    tmp_path: Path, aiohttp_server: Any, redis: RedisServer
) -> None:
    a = await start_node(tmp_path, aiohttp_server, redis.url, "a")
    # Nobody listens there: the destination just sits in backoff, which is all this needs.
    status, _ = await a.api(
        "POST", "/api/shows/test-show/outputs/rtmp", json={"name": "cdn-a", "url": "rtmp://127.0.0.1:9/live/key-a"}
    )
    assert status == 201
    await a.api("POST", "/api/shows/test-show/outputs/rtmp", json={"name": "cdn-b", "url": "rtmp://127.0.0.1:9/live/b"})
    assert (await a.api("DELETE", "/api/shows/test-show/outputs/rtmp/cdn-b"))[0] == 200
    bad = {"name": "x", "url": "rtmp://127.0.0.1:99999/live/k"}
    assert (await a.api("POST", "/api/shows/test-show/outputs/rtmp", json=bad))[0] == 400
    await a.srv.close()
    b = await start_node(tmp_path, aiohttp_server, redis.url, "b")
    _, listed = await b.api("GET", "/api/shows/test-show/outputs/rtmp")
    names = [d["name"] for d in (listed["destinations"] if isinstance(listed, dict) else listed)]
    assert names == ["cdn-a"]
    assert "key-a" not in str(listed)  # the stream key stays secret
