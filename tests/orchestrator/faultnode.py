"""A server node over a real redis-server, optionally through the fault-injecting proxy,
plus a direct view of what Redis holds (for the reliability tests)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp.test_utils import TestServer

from orchestrator.app import create_app
from orchestrator.appkeys import SHOWS
from orchestrator.redisstore import RedisStore
from orchestrator.showrunner import ShowRunner
from orchestrator.store import Event, ShowState
from tests.conftest import Server, make_config

SHOW = "test-show"
T = TypeVar("T")
U = TypeVar("U")


class Node(Server):
    """One server node: its HTTP API (``api``) and its show runner (what is on air here)."""

    def __init__(self, srv: TestServer, config: Any) -> None:
        super().__init__(str(srv.make_url("")).rstrip("/"), config, srv.app)
        self.srv = srv

    @property
    def runner(self) -> ShowRunner:
        return self.srv.app[SHOWS][SHOW]

    async def drained(self, timeout: float = 10) -> None:
        """Until every queued store write (events, media-plane facts) is written."""
        async with asyncio.timeout(timeout):
            while len(self.runner.outbox):
                await asyncio.sleep(0.05)

    async def _read_while_quiet(
        self, mine: Callable[[], T], theirs: Callable[[], Awaitable[U]], timeout: float
    ) -> tuple[U, T]:
        """``theirs()`` (what Redis holds) and ``mine()`` (the node's own), read again until no write
        was in flight between them. Raises ``TimeoutError`` if writes never pause for ``timeout`` s."""
        async with asyncio.timeout(timeout):
            while True:
                await self.drained()
                before = mine()
                stored = await theirs()
                await self.drained()
                if mine() == before:
                    return stored, before

    async def stored_and_written(self, stored: Stored, timeout: float = 15) -> tuple[list[Event], list[Event]]:
        """Redis's events for the show and the events this node wrote, comparable exactly.

        System events (an alarm, an RTMP destination retrying) are written at any time: one that
        reaches Redis while the test reads it but is not yet in the node's record would look like
        an event nobody wrote."""
        return await self._read_while_quiet(lambda: list(self.runner.outbox.written), stored.events, timeout)

    async def stored_and_own_state(self, stored: Stored, timeout: float = 15) -> tuple[ShowState, ShowState]:
        """Redis's state of the show and this node's (a studio's presence or a fallback is written at
        any time, as events are)."""
        return await self._read_while_quiet(lambda: self.runner.state, stored.state, timeout)

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
