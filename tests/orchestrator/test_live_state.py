"""The control pages' live state is built once per show and fanned out (orchestrator/livestate.py).

A real server, real WebSocket clients (aiohttp), real commands through the API.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from orchestrator import livestate
from orchestrator.app import create_app
from orchestrator.appkeys import SHOWS, STORE
from orchestrator.store import Event
from orchestrator.views import control as control_view
from tests.conftest import OPERATOR, make_config
from tests.redisserver import RedisServer

AUTH = {"Authorization": f"Bearer {OPERATOR}"}
SHOW = "test-show"


class Site:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.url = str(server.make_url("")).rstrip("/")
        self.ws_url = self.url + f"/api/shows/{SHOW}/ws"
        self.runner = server.app[SHOWS][SHOW]
        self.describes = 0
        describe = self.runner.describe

        async def counted() -> dict[str, object]:  # instrumentation: the real method, counted
            self.describes += 1
            return await describe()

        self.runner.describe = counted

    async def cut(self, http: aiohttp.ClientSession, studio: str) -> None:
        async with http.post(self.url + f"/api/shows/{SHOW}/cut", json={"studio": studio}) as res:
            assert res.status == 200, await res.text()


@pytest.fixture
async def site(tmp_path: Path, aiohttp_server: Any) -> Site:
    return Site(await aiohttp_server(create_app(make_config(tmp_path)), host="127.0.0.1"))


@asynccontextmanager
async def pages(site: Site, count: int, **session: Any) -> AsyncIterator[list[aiohttp.ClientWebSocketResponse]]:
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession(headers=AUTH, **session))
        yield [await stack.enter_async_context(http.ws_connect(site.ws_url)) for _ in range(count)]


async def _quiet(ws: aiohttp.ClientWebSocketResponse, after_s: float = 1.0) -> list[str]:
    """What the page receives until nothing came for ``after_s``."""
    got = []
    while True:
        try:
            got.append(await ws.receive_str(timeout=after_s))
        except TimeoutError:
            return got


async def test_every_page_gets_the_same_states_and_each_event_once_in_order(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control_view, "STATE_EVERY_S", 60.0)  # states on changes only: comparable
    async with aiohttp.ClientSession(headers=AUTH) as http:
        await site.cut(http, "bravo")  # before the pages: its event is not theirs
        async with pages(site, 4) as socks:
            for ws in socks:
                first = json.loads(await ws.receive_str(timeout=10))
                assert first["type"] == "state" and first["state"]["program"] == "bravo"
            await asyncio.gather(*(_quiet(ws) for ws in socks))
            studios = ["alpha", "bravo"] * 6
            for studio in studios:
                await site.cut(http, studio)
            received: list[list[str]] = []
            for ws in socks:
                texts: list[str] = []
                while sum('"program.cut"' in t for t in texts) < len(studios):
                    texts.append(await ws.receive_str(timeout=10))
                received.append(texts + await _quiet(ws))
    assert all(texts == received[0] for texts in received)  # the very same bytes, in the same order
    messages = [json.loads(t) for t in received[0]]
    cuts = [m["event"] for m in messages if m["type"] == "event" and m["event"]["kind"] == "program.cut"]
    assert [e["detail"]["studio"] for e in cuts] == studios  # each once, in order, none from before
    assert [e["at"] for e in cuts] == sorted(e["at"] for e in cuts)
    states = [m["state"] for m in messages if m["type"] == "state"]
    assert states and states[-1]["program"] == studios[-1]


def _small_receive_buffer(addr_info: Any) -> socket.socket:
    """A client socket with a tiny receive window: a page that stops reading blocks the server soon."""
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=kind, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


def _small_send_buffer(site: Site, ws: aiohttp.ClientWebSocketResponse) -> None:
    """The server's end of ``ws`` buffers little, like a slow link (loopback's sockets grow to
    megabytes, which a page that stops reading would take minutes to fill)."""
    connection = ws._response.connection
    assert connection is not None and connection.transport is not None
    client = connection.transport.get_extra_info("sockname")
    for handler in site.server.runner.server.connections:
        if handler.transport is not None and handler.transport.get_extra_info("peername") == client:
            handler.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            return
    raise AssertionError("the page's connection is not on the server")


async def test_a_page_that_stops_reading_delays_nobody_and_is_closed(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control_view, "STATE_EVERY_S", 0.05)  # a stream of states fills the stuck page
    monkeypatch.setattr(livestate, "MAX_PENDING", 20)
    # Long enough for 20 states to queue up even at a loaded box's slow ticks (0.4 s each seen).
    monkeypatch.setattr(livestate, "STALL_S", 30.0)
    lives = site.server.app[control_view.LIVE_STATES]
    connector = aiohttp.TCPConnector(socket_factory=_small_receive_buffer)
    async with pages(site, 3) as readers, pages(site, 1, connector=connector) as (stuck,):
        live = lives.of(site.runner)
        assert live is not None and len(live.pages) == 4
        _small_send_buffer(site, stuck)
        reading = [Reader(ws) for ws in readers]
        async with asyncio.timeout(60):  # until the server can no longer send to the stuck page
            while max(len(page) for page in live.pages) < livestate.MAX_PENDING:
                await asyncio.sleep(0.1)
        behind = max(live.pages, key=len)
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession(headers=AUTH) as http:
            for studio in ["alpha", "bravo"]:
                cut_at = loop.time()
                await site.cut(http, studio)
                for reader in reading:
                    await reader.wait_for_program(studio, timeout=10)
                assert loop.time() - cut_at < 10
        assert behind.dropped > 0  # its old states went, not the others' updates
        # Then it is closed by the server (the page reconnects and reloads); the others stay.
        async with asyncio.timeout(60):
            while len(live.pages) != 3:
                await asyncio.sleep(0.2)
            while (msg := await stuck.receive()).type == aiohttp.WSMsgType.TEXT:
                pass
        # The close frame says why; had it not left within CLOSE_TIMEOUT_S the connection was cut.
        cut = msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert cut or (msg.type == aiohttp.WSMsgType.CLOSE and stuck.close_code == 1013), (msg, stuck.close_code)
        assert behind not in live.pages and all(not ws.closed for ws in readers)
        for reader in reading:
            reader.task.cancel()


async def test_a_page_queue_drops_old_states_never_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(livestate, "MAX_PENDING", 3)
    page = livestate.LivePage(0.0)
    for text, droppable in [("s1", True), ("e1", False), ("s2", True), ("s3", True), ("e2", False)]:
        page.put(text, droppable)
    assert [await page.get() for _ in range(len(page))] == ["e1", "s3", "e2"]
    assert page.dropped == 2 and not page.behind.is_set()
    for text in ["e3", "e4", "e5"]:
        page.put(text, droppable=False)
    assert not page.behind.is_set()
    page.put("e6", droppable=False)  # no state left to drop: the page must reload
    assert page.behind.is_set()


class Reader:
    """Reads a page's messages as the page does; :attr:`program` is the program in the newest state."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.program: str | None = None
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if data["type"] == "state":
                self.program = data["state"]["program"]

    async def wait_for_program(self, studio: str, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while self.program != studio:
                assert not self.task.done()
                await asyncio.sleep(0.05)


async def test_describing_the_show_does_not_grow_with_the_pages(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control_view, "STATE_EVERY_S", 0.1)

    async def calls_over(count: int, seconds: float) -> int:
        async with pages(site, count) as socks:
            for ws in socks:
                assert (await ws.receive_json(timeout=10))["type"] == "state"
            reading = [Reader(ws) for ws in socks]
            before = site.describes
            await asyncio.sleep(seconds)
            calls = site.describes - before
            for reader in reading:
                reader.task.cancel()
            return calls

    one = await calls_over(1, 3.0)
    eight = await calls_over(8, 3.0)
    assert one >= 5, one  # the timed refresh runs (10 per second unloaded)
    # One producer per show: 8 pages cost what 1 does, at most one state per period (30 in 3 s)
    # plus one per page joining and a few changes; one per page per period would be 240. An
    # absolute bound: load can only lower the count (comparing the two windows could not).
    assert eight <= 3.0 / 0.1 + 8 + 5, (one, eight)


async def test_the_pages_are_warned_while_the_store_is_away(
    tmp_path: Path, aiohttp_server: Any, redis: RedisServer
) -> None:
    config = make_config(tmp_path)
    config = dataclasses.replace(config, server=dataclasses.replace(config.server, redis_url=redis.url))
    site = Site(await aiohttp_server(create_app(config), host="127.0.0.1"))
    async with pages(site, 2) as socks:
        for ws in socks:
            assert (await ws.receive_json(timeout=10))["type"] == "state"
        redis.stop()
        for ws in socks:
            async with asyncio.timeout(30):
                while (msg := await ws.receive_json()) != {"type": "warning", "message": "state store unavailable"}:
                    assert msg["type"] == "state"  # the state still comes, from the show on this node


async def test_a_failed_producer_is_started_again_for_the_next_page(site: Site) -> None:
    """Describing the show failed once (a bug): the pages then open are told to reload, and a page
    that joins before they have left gets a working producer, not the dead one."""
    describe = site.runner.describe
    failures = [RuntimeError("a bug in describing the show")]

    async def once_broken() -> dict[str, object]:
        if failures:
            raise failures.pop()
        return await describe()

    site.runner.describe = once_broken
    live = livestate.LiveState(site.runner, site.server.app[STORE], None, 60.0)
    try:
        first = live.join(0.0)
        async with asyncio.timeout(10):
            await first.behind.wait()  # told to reload; it has not left yet
        second = live.join(0.0)
        message = json.loads(await asyncio.wait_for(second.get(), 10))
        assert message["type"] == "state" and not second.behind.is_set(), message
    finally:
        await live.stop()


async def test_a_page_that_missed_more_events_than_one_read_is_told_to_reload(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More events between two states than one read holds: sending the newest would skip the
    others silently, so the page is told to reload (it then fetches the log: static/control.js)."""
    monkeypatch.setattr(livestate, "EVENTS_PER_READ", 3)
    store = site.server.app[STORE]
    live = livestate.LiveState(site.runner, store, None, 60.0)
    try:
        page = live.join(time.time())
        assert json.loads(await asyncio.wait_for(page.get(), 10))["type"] == "state"
        for n in range(3):  # a burst (a webhook's cues, say) written between two states
            await store.add_event(Event("cue.set", SHOW, "director", {"n": n}))
        async with aiohttp.ClientSession(headers=AUTH) as http:
            await site.cut(http, "alpha")  # a change: the next state, with four new events
        async with asyncio.timeout(10):
            await page.behind.wait()
    finally:
        await live.stop()
