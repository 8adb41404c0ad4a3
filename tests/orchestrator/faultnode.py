"""A server node over a real redis-server, optionally through the fault-injecting proxy,
plus a direct view of what Redis holds (for the reliability tests)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from orchestrator.app import create_app
from orchestrator.appkeys import SHOWS
from orchestrator.redisstore import RedisStore
from orchestrator.showrunner import ShowRunner
from orchestrator.store import Event, ShowState
from tests.conftest import Server, make_config

SHOW = "test-show"


class Node(Server):
    """One server node: its HTTP API (``api``) and its show runner (what is on air here)."""

    def __init__(self, srv: TestServer, config: Any) -> None:
        super().__init__(str(srv.make_url("")).rstrip("/"), config)
        self.srv = srv

    @property
    def runner(self) -> ShowRunner:
        return self.srv.app[SHOWS][SHOW]

    async def drained(self, timeout: float = 10) -> None:
        """Until every queued store write (events, media-plane facts) is written."""
        async with asyncio.timeout(timeout):
            while len(self.runner.outbox):
                await asyncio.sleep(0.05)

    async def stored_and_written(self, stored: Stored, timeout: float = 15) -> tuple[list[Event], list[Event]]:
        """Redis's events for the show and the events this node wrote, read while no write was in
        flight, so that the two can be compared exactly.

        System events (an alarm, an RTMP destination retrying) are written at any time: one that
        reaches Redis while the test reads it but is not yet in the node's record would look like
        an event nobody wrote. The pair is read again until the node's record did not move.
        Raises ``TimeoutError`` if writes never pause for ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while True:
                await self.drained()
                mine = list(self.runner.outbox.written)
                events = await stored.events()
                await self.drained()
                if list(self.runner.outbox.written) == mine:
                    return events, mine

    async def stored_and_own_state(self, stored: Stored, timeout: float = 15) -> tuple[ShowState, ShowState]:
        """Redis's state of the show and this node's, read while no write was in flight (a
        studio's presence or a fallback is written at any time, as events are: see
        :meth:`stored_and_written`).  Raises ``TimeoutError`` if writes never pause."""
        async with asyncio.timeout(timeout):
            while True:
                await self.drained()
                mine = self.runner.state
                state = await stored.state()
                await self.drained()
                if self.runner.state == mine:
                    return state, mine

    async def join_status(self, token: str) -> int:
        """The status of a host opening the join link (200; a 4xx once revoked)."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/join/{token}") as res:
            return res.status


async def start_node(tmp_path: Path, aiohttp_server: Any, redis_url: str, name: str) -> Node:
    config = make_config(tmp_path / name)
    config = dataclasses.replace(config, server=dataclasses.replace(config.server, redis_url=redis_url))
    srv = await aiohttp_server(create_app(config), host="127.0.0.1")
    return Node(srv, config)


class Stored:
    """What Redis holds for the show, read directly (never through the proxy)."""

    def __init__(self, url: str) -> None:
        self.store = RedisStore(url)

    async def state(self) -> ShowState:
        return await self.store.get(SHOW)

    async def events(self) -> list[Event]:
        return await self.store.events(SHOW, 10_000)

    async def kinds(self) -> list[str]:
        return [e.kind for e in await self.events()]

    async def close(self) -> None:
        await self.store.close()


def same_show(a: ShowState, b: ShowState) -> bool:
    """Equal apart from the version and who is online (a restart resets both)."""
    return dataclasses.replace(a, version=0, online=()) == dataclasses.replace(b, version=0, online=())
