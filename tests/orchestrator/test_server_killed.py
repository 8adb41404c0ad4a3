"""The server process SIGKILLed, then Redis SIGKILLed too (running the project's
configs/redis.conf): a new server process puts the same show on air, outputs included."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import OPERATOR
from tests.ports import free_port
from tests.redisserver import RedisServer
from tests.serverprocess import config_file, kill, show_table, spawn_server

API = "/api/shows/killed"
AUTH = {"Authorization": f"Bearer {OPERATOR}"}


def _config(directory: Path, port: int) -> Path:
    return config_file(
        directory,
        show_table("killed", "SIGKILL", width=320, height=180, fps=15, video_bitrate=300000)
        + """
[[shows.products]]
id = "soup"
name = "汪集鸡汤"
enterprise = "汪集"
price = 39.9
""",
        name="killed.toml",
        listen_port=port,
    )


async def _call(base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.request(method, base + path, json=body, headers=AUTH) as res:
        return res.status, await res.json(content_type=None)


async def _serve(config: Path, redis_url: str, base: str) -> subprocess.Popen[bytes]:
    proc = spawn_server(config, "--redis", redis_url)
    async with asyncio.timeout(30):
        while True:
            assert proc.poll() is None, "server exited"
            try:
                if (await _call(base, "GET", API))[0] == 200:
                    return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)


async def test_server_and_redis_killed_come_back_with_the_show(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = _config(tmp_path, port)
    with RedisServer(persistent=True) as redis:
        server = await _serve(config, redis.url, base)
        try:
            for method, path, body in [
                ("POST", "/cut", {"studio": "alpha"}),
                ("POST", "/preview", {"studio": "bravo"}),
                ("POST", "/cards", {"product": "soup"}),
                ("POST", "/audio/bravo", {"gain_db": -4}),
                ("POST", "/outputs/rtmp", {"name": "cdn-a", "url": "rtmp://127.0.0.1:9/live/key"}),
                ("POST", "/recording", {"on": True}),
                ("POST", "/studios/alpha/reissue", None),
            ]:
                status, answer = await _call(base, method, API + path, body)
                assert status in (200, 201), (path, answer)
            _, before = await _call(base, "GET", API)
            _, events = await _call(base, "GET", API + "/events")
        finally:
            kill(server)
        await asyncio.sleep(1.5)  # appendfsync everysec: older writes are on disk
        redis.kill()
        redis.start()
        server = await _serve(config, redis.url, base)
        try:
            _, after = await _call(base, "GET", API)
            for key in ("program", "preview", "cards", "audio", "layout", "panic"):
                want, got = before[key], after[key]
                if key == "audio":  # meters move; the settings must not
                    want = {s: (v["gain_db"], v["mute"]) for s, v in want["studios"].items()}
                    got = {s: (v["gain_db"], v["mute"]) for s, v in got["studios"].items()}
                if key == "cards":
                    want = [{k: c[k] for k in ("slot", "product", "price", "shown_at")} for c in want]
                    got = [{k: c[k] for k in ("slot", "product", "price", "shown_at")} for c in got]
                assert got == want, key
            assert after["outputs"]["recording"]["state"] != "off"
            _, rtmp = await _call(base, "GET", API + "/outputs/rtmp")
            assert [d["name"] for d in rtmp["destinations"]] == ["cdn-a"]
            _, events_after = await _call(base, "GET", API + "/events")
            assert events_after["events"][: len(events["events"])] == events["events"]
        finally:
            kill(server)
