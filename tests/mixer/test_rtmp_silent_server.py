"""An RTMP destination that accepts TCP and never answers must not freeze the server.

PyAV connected an ``rtmp://`` output holding the GIL, with no timeout: such a destination froze
the whole process (program clock, HTTP, every output) until the push went through our own RTMP
client with deadlines (mixer/outputs/rtmppublish.py). The server runs in its own process here,
so a freeze shows as API calls that time out and a program clock that stops, not as a test that
hangs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

from mixer.outputs.rtmppublish import RtmpPublish
from tests.conftest import OPERATOR
from tests.mixer.test_rtmp import LISTENER
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
AUTH = {"Authorization": f"Bearer {OPERATOR}"}


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never sends or reads a byte."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


async def _api(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.5)) as http,
        http.request(method, url, json=body, headers=AUTH) as res,
    ):
        return res.status, await res.json(content_type=None)


async def test_a_silent_rtmp_destination_does_not_freeze_the_program(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "server.toml"
    config.write_text(
        "[server]\n"
        f'operator_token = "{OPERATOR}"\nlink_secret = "test-link-secret-0123456789"\n'
        f'data_dir = "{tmp_path / "data"}"\n'
        '[[shows]]\nid = "s"\ntitle = "S"\nwidth = 320\nheight = 180\nfps = 15\nvideo_bitrate = 300000\n'
        '[[shows.studios]]\nid = "alpha"\nname = "Alpha"\n'
    )
    silent = SilentServer()
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/api/shows/s"
    try:
        async with asyncio.timeout(40):
            while True:
                try:
                    if (await _api(base))[0] == 200:
                        break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.2)
        destination = {"name": "silent", "url": f"rtmp://127.0.0.1:{silent.port}/live/key"}
        status, body = await _api(base + "/outputs/rtmp", "POST", destination)
        assert status in (200, 201), body
        # Over two probe timeouts: the API answers every time and the program clock keeps ticking.
        started = time.monotonic()
        first = (await _api(base))[1]["mixer"]["ticks"]
        failures = 0
        while time.monotonic() - started < 12:
            try:
                status, _ = await _api(base)
                assert status == 200
            except (aiohttp.ClientError, TimeoutError):
                failures += 1
            await asyncio.sleep(0.25)
        state = (await _api(base))[1]
        ticks = state["mixer"]["ticks"] - first
        elapsed = time.monotonic() - started
        assert silent.accepted, "the output never tried the silent server"
        assert failures == 0, f"{failures} API calls timed out: the server froze"
        assert ticks > 0.5 * 15 * elapsed, f"{ticks} program ticks in {elapsed:.1f} s at 15 fps: the clock stalled"
        _, pushes = await _api(base + "/outputs/rtmp")
        [push] = pushes["destinations"]
        assert push["state"] in ("backoff", "connecting") and push["up"] is False, push
        assert "no answer from" in (push["last_error"] or "") and "handshake" in push["last_error"], push
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        silent.close()


async def test_a_server_that_stops_reading_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """After publish the server stops reading (FFmpeg's listener, SIGSTOPped): a write times out
    instead of blocking for as long as TCP keeps the connection (FFmpeg's writes had no timeout)."""
    port = free_port()
    listener = subprocess.Popen(
        [sys.executable, "-c", LISTENER, f"rtmp://127.0.0.1:{port}/live/key", str(tmp_path / "got.flv"), "60"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        publish = RtmpPublish(f"rtmp://127.0.0.1:{port}/live/key", timeout=1.0)
        async with asyncio.timeout(30):
            while True:
                try:
                    await asyncio.to_thread(publish.open)
                    break
                except OSError:  # not listening yet
                    await asyncio.sleep(0.3)
        os.kill(listener.pid, signal.SIGSTOP)  # from now on nobody reads

        def flood() -> float:
            started = time.monotonic()
            try:
                while time.monotonic() - started < 30:
                    publish.send(9, 0, b"\x27\x01\x00\x00\x00" + bytes(60_000))
            except TimeoutError:
                return time.monotonic() - started
            finally:
                publish.close()
            raise AssertionError("30 s of writes to a server that reads nothing never timed out")

        took = await asyncio.to_thread(flood)
        print(f"\nwrite to a stalled RTMP server: timed out after {took:.1f} s of writing")
    finally:
        os.kill(listener.pid, signal.SIGCONT)
        listener.kill()
        listener.wait(10)
