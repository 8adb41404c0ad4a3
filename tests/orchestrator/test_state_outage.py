"""One honest command contract while Redis fails, through a fault-injecting proxy
(tests/tcpfault.py) between the server and a real redis-server:

- a command either did not happen (503, nothing stored, nothing on air changed) or happened
  (2xx, stored, on air, and its audit event written, if need be once Redis is back);
- what the media plane does on its own during an outage (studios joining and leaving, a
  fallback) is written when Redis is back, in order, and the stored state brought up to date.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from orchestrator.outbox import Fact
from orchestrator.store import Event
from tests.auditevents import commands, kinds
from tests.mixer.test_rtmp import Listener
from tests.orchestrator.faultnode import SHOW, Node, Stored, start_node
from tests.ports import free_port
from tests.redisserver import RedisServer
from tests.tcpfault import FaultProxy
from tests.whipclient import AiortcPublisher

API = f"/api/shows/{SHOW}"


@pytest.fixture
def proxy(redis: RedisServer) -> Iterator[FaultProxy]:
    with FaultProxy(redis.port) as p:
        yield p


@pytest.fixture
async def stored(redis: RedisServer) -> AsyncIterator[Stored]:
    s = Stored(redis.url)
    yield s
    await s.close()


# command -> (method, path, body, the audit event it writes)
COMMANDS: list[tuple[str, str, Any, str]] = [
    ("POST", "/cut", {"studio": "alpha"}, "program.cut"),
    ("POST", "/preview", {"studio": "bravo"}, "preview.set"),
    ("POST", "/panic", {"on": True}, "program.panic"),
    ("POST", "/cards", {"product": "soup"}, "card.shown"),
    ("POST", "/audio/alpha", {"gain_db": -3}, "audio.set"),
    ("POST", "/studios/alpha/reissue", None, "link.reissued"),
    ("POST", "/studios/bravo/cue", {"message": "wave"}, "cue.set"),
    ("POST", "/outputs/rtmp", {"name": "cdn", "url": "rtmp://127.0.0.1:9/live/k"}, "output.rtmp.added"),
    ("POST", "/recording", {"on": True}, "recording.started"),
]


async def test_a_cut_between_state_write_and_audit_write_answers_2xx_and_writes_the_event_later(
    tmp_path: Path, aiohttp_server: Any, proxy: FaultProxy, stored: Stored
) -> None:
    node = await start_node(tmp_path, aiohttp_server, proxy.url, "n")
    for method, path, body, kind in COMMANDS:
        before = await stored.state()
        # The connection drops at the audit write (the event script), then Redis stays away.
        proxy.cut_at("EVALSHA|EVAL", then="refuse")
        status, answer = await node.api(method, API + path, json=body)
        assert status in (200, 201), (path, status, answer)
        assert proxy.fired.is_set(), path
        # It happened: stored, and on air on this node.
        after = await stored.state()
        assert after.version == before.version + 1 and node.runner.state == after, path
        # Not stored at all: a system event after it would hide it from a look at the newest only.
        assert kind not in kinds(commands(await stored.events())), path
        # Meanwhile another command is refused and changes nothing.
        status, answer = await node.api("POST", API + "/cut", json={"studio": "bravo"})
        assert status == 503 and "nothing changed" in answer["error"], answer
        assert node.runner.state == after and await stored.state() == after
        proxy.heal()
        await node.drained()
        # Alarms (a studio without signal on a loaded box), outputs going down or up (the RTMP
        # destination to the closed port 9, retrying) and studio liveness happen at any time: not commands.
        done = kinds(commands(await stored.events()))
        assert done[-1] == kind and done.count(kind) == 1, (path, done)
    # Everything the node wrote is in Redis, in order, once.
    events, mine = await node.stored_and_written(stored)
    assert events == mine


async def test_outputs_are_not_changed_when_their_change_cannot_be_stored(
    tmp_path: Path, aiohttp_server: Any, proxy: FaultProxy, stored: Stored
) -> None:
    node = await start_node(tmp_path, aiohttp_server, proxy.url, "n")
    egress = node.runner.egress
    assert egress is not None
    proxy.refuse()
    status, _ = await node.api("POST", API + "/outputs/rtmp", json={"name": "cdn", "url": "rtmp://127.0.0.1:9/l/k"})
    assert status == 503 and "cdn" not in egress.rtmp
    status, _ = await node.api("POST", API + "/recording", json={"on": True})
    assert status == 503 and egress.recording is None
    proxy.heal()
    assert (await node.api("POST", API + "/recording", json={"on": True}))[0] == 200
    assert egress.recording is not None and (await stored.state()).recording is True
    proxy.refuse()
    status, _ = await node.api("POST", API + "/recording", json={"on": False})
    assert status == 503 and egress.recording is not None  # still recording, as stored
    proxy.heal()


async def test_joins_leaves_and_a_fallback_during_an_outage_are_written_in_order(
    tmp_path: Path, aiohttp_server: Any, proxy: FaultProxy, stored: Stored
) -> None:
    node = await start_node(tmp_path, aiohttp_server, proxy.url, "n")
    alpha = AiortcPublisher(node.url, SHOW, "alpha", node.token("alpha"), "red")
    bravo = AiortcPublisher(node.url, SHOW, "bravo", node.token("bravo"), "green")
    try:
        await alpha.start()
        await node.wait_for(lambda s: bool((s["studios"][0]["stats"] or {}).get("video_frames")))
        assert (await node.api("POST", API + "/cut", json={"studio": "alpha"}))[0] == 200
        await node.drained()
        written_before = len(node.runner.outbox.written)
        proxy.refuse()  # Redis is gone while the media plane goes on
        await bravo.start()
        # bravo's peer is up before the server has registered it on a loaded box: the join is
        # made to happen first, so the order checked below is the order things happened.
        async with asyncio.timeout(15):
            while ("studio.joined", "bravo") not in [(e.kind, e.detail.get("studio")) for e in _queued(node)]:
                await asyncio.sleep(0.05)
        await alpha.stop()  # the studio on air leaves: the program falls back
        async with asyncio.timeout(15):
            while not any(e.kind == "program.fallback" for e in _queued(node)):
                await asyncio.sleep(0.05)
        queued = [(e.kind, e.detail.get("studio")) for e in _queued(node)]
        async with aiohttp.ClientSession() as http, http.get(f"{node.url}/metrics") as res:
            assert f'broadcast_store_writes_pending{{show="{SHOW}"}} {len(node.runner.outbox)}' in await res.text()
        assert queued.index(("studio.joined", "bravo")) < queued.index(("studio.left", "alpha"))
        assert (await stored.state()).program == "alpha"  # not written yet: Redis is away
        proxy.heal()
        # All written, in the order they happened, none twice; the state caught up.
        events, mine = await node.stored_and_written(stored)
        assert events == mine
        new = [(e.kind, e.detail.get("studio")) for e in events[written_before:]]
        assert new[: len(queued)] == queued, (new, queued)  # later events (an alarm) may follow
        state, mine = await node.stored_and_own_state(stored)
        assert state == mine
        assert state.online == ("bravo",)
        fallback = next(e for e in events if e.kind == "program.fallback")
        if fallback.detail.get("policy", "manual") == "manual":  # latched: the fallback is the program
            assert state.program == fallback.detail["to"] != "alpha"
    finally:
        await alpha.stop()
        await bravo.stop()


def _queued(node: Node) -> list[Event]:
    """The events the node holds for Redis, as they will be written (a fact's events are
    made when its state change is stored: worked out here on the node's state)."""
    out: list[Event] = []
    state = node.runner.state
    for item in node.runner.outbox.pending():
        if isinstance(item, Fact):
            after = item.change(state)
            out += item.events(state, after)
            state = after
        else:
            out.append(item)
    return out


async def test_a_write_whose_fate_is_unknown_is_not_called_nothing_changed(
    tmp_path: Path, aiohttp_server: Any, proxy: FaultProxy, stored: Stored
) -> None:
    """EXEC ran in Redis, its answer was lost, and Redis cannot be asked: the answer says so,
    and when Redis is back this node puts the stored change on air and records it."""
    node = await start_node(tmp_path, aiohttp_server, proxy.url, "n")
    proxy.cut_at("EXEC", forward=True, then="refuse")
    status, answer = await node.api("POST", API + "/cut", json={"studio": "bravo"})
    assert status == 503 and "may or may not have been stored" in answer["error"], answer
    assert "nothing changed" not in answer["error"]
    assert (await stored.state()).program == "bravo"  # it was stored
    proxy.heal()
    async with asyncio.timeout(10):
        while node.runner.program.scene.program != "bravo":
            await asyncio.sleep(0.05)
    state, mine = await node.stored_and_own_state(stored)
    assert mine == state
    # It happened, so it is in the audit trail too.
    assert [e.detail["studio"] for e in await stored.events() if e.kind == "program.cut"] == ["bravo"]


async def test_an_output_failing_during_an_outage_is_written_when_redis_is_back(
    tmp_path: Path, aiohttp_server: Any, proxy: FaultProxy, stored: Stored
) -> None:
    node = await start_node(tmp_path, aiohttp_server, proxy.url, "n")
    port = free_port()
    cdn = Listener(port, tmp_path / "cdn.flv", seconds=120)  # a real RTMP server (FFmpeg's listener)
    try:
        await cdn.listening()
        url = f"rtmp://127.0.0.1:{port}/live/secret-key"
        assert (await node.api("POST", API + "/outputs/rtmp", json={"name": "cdn", "url": url}))[0] == 201
        async with asyncio.timeout(20):
            while "output.up" not in await stored.kinds():
                await asyncio.sleep(0.2)
        proxy.refuse()
        cdn.kill()  # the CDN goes away while Redis is away too
        async with asyncio.timeout(15):
            while not any(e.kind == "output.down" for e in _queued(node)):
                await asyncio.sleep(0.1)
        assert "output.down" not in await stored.kinds()
        proxy.heal()
        await node.drained()
    finally:
        cdn.kill()
    downs = [e.detail for e in await stored.events() if e.kind == "output.down"]
    assert len(downs) == 1 and downs[0]["name"] == "cdn" and downs[0]["error"], downs
    assert "secret" not in str(downs)  # the stream key stays secret
    events, mine = await node.stored_and_written(stored)
    assert events == mine
