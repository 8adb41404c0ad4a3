"""A real, throw-away ``redis-server`` for tests (never a mock).

    with RedisServer() as server:          # or: server = RedisServer(); server.start() ... server.close()
        store = RedisStore(server.url)
        server.stop()    # Redis goes away (connections refused)
        server.start()   # ... and comes back on the same port, empty
        server.pause()   # Redis hangs (SIGSTOP): connections open but nothing answers
        server.resume()

It listens on 127.0.0.1 only, keeps nothing on disk and is always stopped by its own PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ping(port: int, timeout: float = 0.2) -> bool:
    """True when something on ``port`` answers a Redis PING (raw protocol, no client needed)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    def __init__(self, port: int | None = None, start_timeout: float = 5.0) -> None:
        self._own_port = port is None
        self._started_once = False
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self._dir = Path(tempfile.mkdtemp(prefix="redis-test-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> RedisServer:
        if self.running:
            return self
        # A port we picked ourselves may have been taken since; a restart must keep its port.
        attempts = 3 if self._own_port and not self._started_once else 1
        for attempt in range(attempts):
            try:
                return self._start()
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start(self) -> RedisServer:
        args = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._dir),
            "--daemonize", "no",
            "--logfile", str(self._dir / "redis.log"),
        ]  # fmt: skip
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout
        while not ping(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                logfile = self._dir / "redis.log"
                log = logfile.read_text(errors="replace")[-2000:] if logfile.exists() else ""
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{log}")
            time.sleep(0.02)
        self._started_once = True
        return self

    def stop(self) -> None:
        """Stop the server (by PID): clients now get 'connection refused'. Data is lost."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        if self._paused:
            os.kill(proc.pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            self._paused = False
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): TCP still connects, but no command is answered."""
        assert self._proc is not None and self.running
        os.kill(self._proc.pid, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGCONT)
        self._paused = False

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
