"""`broadcast links` prints the links that work now: after a reissue, the new one (read from Redis)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from orchestrator.config import load
from tests.conftest import Server, serve
from tests.redisserver import RedisServer
from tests.serverprocess import config_file, show_table


def _config_file(tmp_path: Path, redis_url: str) -> Path:
    return config_file(tmp_path, show_table("test-show", "Test", width=320, height=180), redis_url=redis_url)


def _cli_links(path: Path) -> tuple[int, dict[str, str], str]:
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "links", "--config", str(path), "--base-url", "http://x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    tokens = {link["studio"]: link["token"] for link in map(json.loads, done.stdout.splitlines())}
    return done.returncode, tokens, done.stderr


async def test_links_after_a_reissue_are_the_new_ones(tmp_path: Path, aiohttp_server: Any, redis: RedisServer) -> None:
    path = _config_file(tmp_path, redis.url)
    config = load(path)
    node = await serve(aiohttp_server, config)
    code, before, _ = _cli_links(path)
    assert code == 0
    assert await _join_page(node, before["alpha"]) == 200
    status, new = await node.api("POST", "/api/shows/test-show/studios/alpha/reissue")
    assert status == 200 and new["token"] != before["alpha"]
    assert await _join_page(node, before["alpha"]) == 403
    code, after, _ = _cli_links(path)
    assert code == 0
    # What the CLI prints now is a link that works, not the refused one.
    assert await _join_page(node, after["alpha"]) == 200
    assert await _join_page(node, after["bravo"]) == 200


async def _join_page(node: Server, token: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{node.url}/join/{token}") as res:
        return res.status


def test_with_redis_down_the_cli_says_so(tmp_path: Path) -> None:
    path = _config_file(tmp_path, "redis://127.0.0.1:1/0")
    code, tokens, stderr = _cli_links(path)
    assert code == 1 and tokens == {}
    assert stderr.count("\n") == 1 and "cannot read the current links from Redis" in stderr


def test_with_the_memory_store_the_cli_says_what_it_cannot_know(tmp_path: Path) -> None:
    path = _config_file(tmp_path, "")
    code, tokens, stderr = _cli_links(path)
    assert code == 0 and set(tokens) == {"alpha", "bravo"}
    assert "in memory" in stderr and "reissued" in stderr


async def test_a_reissue_voids_the_old_link_on_every_node(
    tmp_path: Path, aiohttp_server: Any, redis: RedisServer
) -> None:
    config = load(_config_file(tmp_path, redis.url))
    a = await serve(aiohttp_server, config)
    b = await serve(aiohttp_server, config)
    old = a.token("alpha")
    assert await _join_page(b, old) == 200
    status, new = await a.api("POST", "/api/shows/test-show/studios/alpha/reissue")
    assert status == 200
    # Node b learns the new generation through Redis: the old link is refused there too, promptly.
    async with asyncio.timeout(3):
        while await _join_page(b, old) != 403:
            await asyncio.sleep(0.05)
    assert await _join_page(b, new["token"]) == 200
