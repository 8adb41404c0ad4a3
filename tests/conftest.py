"""Shared fixtures: a real server on 127.0.0.1 with a small show."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from orchestrator.app import create_app
from orchestrator.config import Config, parse
from orchestrator.links import tokens_for
from rooms import compat
from tests.chromium import Chromium
from tests.redisserver import RedisServer

# An answer that drifted from its model fails the test (in production it is logged and sent as built).
os.environ["BROADCAST_STRICT_ANSWERS"] = "1"

OPERATOR = "operator-test-token"


def make_config(tmp_path: Path, **show: Any) -> Config:
    show_table = {
        "id": "test-show",
        "title": "测试 Test show",
        "width": 640,
        "height": 360,
        "fps": 30,
        "video_bitrate": 1_000_000,
        "studios": [
            {"id": "alpha", "name": "北京 Alpha", "place": "Beijing"},
            {"id": "bravo", "name": "香港 Bravo", "place": "Hong Kong"},
        ],
        "products": [{"id": "soup", "name": "汪集鸡汤", "enterprise": "汪集", "price": 39.9, "was_price": 59.9}],
        "outputs": {"hls_segment_seconds": 1.0, "hls_window": 6},
        # Every studio decoded fully, as tests written before standby decoding expect
        # (they count decoded frames of studios not yet on a bus); tests/rooms/test_standby.py opts in.
        "standby_decode": False,
    }
    show_table.update(show)
    return parse(
        {
            "server": {
                "operator_token": OPERATOR,
                "link_secret": "test-link-secret-0123456789",
                "ice_hosts": ["127.0.0.1"],
                "data_dir": str(tmp_path / "data"),
            },
            "shows": [show_table],
        },
        "test-config",
    )


class Server:
    """A client of a server under test as the operator; ``app`` is the server's application
    when it runs in this process (``serve``)."""

    def __init__(self, base_url: str, config: Config, app: web.Application | None = None) -> None:
        self.url = base_url
        self.config = config
        self.app = app
        self.tokens = tokens_for(config)
        self.auth = {"Authorization": f"Bearer {OPERATOR}"}

    @classmethod
    def of(cls, site: Any, config: Config) -> Server:
        """The client of pytest-aiohttp's ``TestServer`` ``site``, serving ``config``'s app."""
        return cls(str(site.make_url("")).rstrip("/"), config, site.app)

    def token(self, studio: str, show: str = "test-show") -> str:
        return self.tokens.mint(show, studio)

    async def api(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.url + path, headers=self.auth, **kw) as res,
        ):
            return res.status, await res.json(content_type=None)

    async def go_live(self, publisher: Any, studio: str = "alpha", frames: int = 10, timeout: float = 15) -> None:
        """Start ``publisher`` (tests/whipclient.py), wait (``timeout`` s) until more than ``frames`` of
        its video frames reached the show, cut to it, and wait until it is on air."""
        await publisher.start()
        await self.wait_for(
            lambda s: (
                (next(st for st in s["studios"] if st["id"] == studio)["stats"] or {}).get("video_frames", 0) > frames
            ),
            timeout,
        )
        status, body = await self.api("POST", "/api/shows/test-show/cut", json={"studio": studio})
        assert status == 200, body
        await self.wait_for(lambda s: s["on_air"] == studio)

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                _, state = await self.api("GET", "/api/shows/test-show")
                if predicate(state):
                    return state
                await asyncio.sleep(0.1)


async def serve(aiohttp_server: Any, config: Config) -> Server:
    """``create_app(config)`` served on 127.0.0.1 by pytest-aiohttp's ``aiohttp_server`` (ended
    after the test); a client of it as the operator."""
    return Server.of(await aiohttp_server(create_app(config), host="127.0.0.1"), config)


@pytest.fixture(autouse=True, scope="session")
def library_patches() -> None:
    """The process-wide library patches (rooms/compat/), as the app applies them at its start.

    Test peers made without an app (tests/mixer/test_timeline.py's viewer, tests/rooms/test_udpsocket.py)
    gather ICE candidates before anything installs them: without this they got no loopback
    candidate when run alone or first, and passed only after a test that started an app.
    """
    compat.install()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_unhandled_server_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test during which a server in this process failed on a request.

    aiohttp answers an exception no handler turned into HTTP with a 500 and logs it on
    ``aiohttp.server``. A test's own client checks its statuses, but a browser's do not reach the
    test: Firefox's trickle-ICE PATCHes were all 500 while its join-page test passed. A test
    that makes a handler crash on purpose is marked ``server_error_expected``.
    """
    if request.node.get_closest_marker("server_error_expected"):
        yield
        return
    collect = _Collect()
    logger = logging.getLogger("aiohttp.server")
    logger.addHandler(collect)
    try:
        yield
    finally:
        logger.removeHandler(collect)
    assert not collect.records, "the server failed on a request: " + "; ".join(
        collect.format(r).splitlines()[0] + " " + repr(r.exc_info[1] if r.exc_info else None) for r in collect.records
    )


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """A redis-server of its own (tests/redisserver.py), ended after the test."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def show_outputs() -> dict[str, Any] | None:
    """The show's ``outputs`` table for ``server`` (None: make_config's); a module overrides it."""
    return None


@pytest.fixture
async def server(tmp_path: Path, aiohttp_server: Any, show_outputs: dict[str, Any] | None) -> Server:
    config = make_config(tmp_path) if show_outputs is None else make_config(tmp_path, outputs=show_outputs)
    return await serve(aiohttp_server, config)


@pytest.fixture
def browser_lang() -> str:
    """The language of ``browser``'s pages; a module overrides it (the crew's pages are tested in zh-CN)."""
    return "en-US"


@pytest.fixture
async def browser(browser_lang: str) -> AsyncIterator[Chromium]:
    """A headless Chromium (tests/chromium.py), ended after the test."""
    async with Chromium(lang=browser_lang) as b:
        yield b


def pytest_unconfigure(config: pytest.Config) -> None:
    """Never let a leaked non-daemon thread (e.g. an aiortc decoder) hang the run after its summary.

    The leak is printed so it gets fixed; the 50-cycle join/leave test is what fails on one.
    """
    import os
    import sys
    import threading

    leaked = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    leaked = [name for name in leaked if not name.startswith("asyncio_")]
    if leaked:
        print(f"\nconftest: non-daemon threads still alive at exit: {leaked}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(getattr(config, "_exit_status", 0))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._exit_status = int(exitstatus)  # type: ignore[attr-defined]
