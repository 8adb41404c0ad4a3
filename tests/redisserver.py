"""A real, throw-away ``redis-server`` for tests (never a mock).

    with RedisServer() as server:          # or: server = RedisServer(); server.start() ... server.close()
        store = RedisStore(server.url)
        server.stop()    # Redis goes away (connections refused)
        server.start()   # ... and comes back on the same port, empty
        server.pause()   # Redis hangs (SIGSTOP): connections open but nothing answers
        server.resume()
        old = server.snapshot()  # SAVE: the dump.rdb bytes as of now
        server.stop(); server.start(snapshot=old)   # back from an old snapshot

    RedisServer(persistent=True)  # the project's configs/redis.conf (AOF, fsync every second)

It listens on 127.0.0.1 only, keeps nothing on disk unless ``persistent`` (its own temporary
directory), and is always stopped by its own PID.
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

from tests.ports import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PROJECT_CONF = Path(__file__).resolve().parent.parent / "configs" / "redis.conf"


def command(port: int, *args: str, timeout: float = 5.0) -> bytes:
    """One Redis command over a raw socket; the first line of the answer."""
    wire = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(wire.encode())
        answer = b""
        while not answer.endswith(b"\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer.strip()


def ping(port: int, timeout: float = 0.2) -> bool:
    """True when something on ``port`` answers a Redis PING (raw protocol, no client needed)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    def __init__(
        self,
        port: int | None = None,
        start_timeout: float = 5.0,
        *,
        persistent: bool = False,
        args: tuple[str, ...] = (),
    ) -> None:
        self.persistent = persistent
        self.args = args  # more redis-server options, e.g. ("--replicaof", "127.0.0.1", "6379")
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

    def start(self, snapshot: bytes | None = None) -> RedisServer:
        """Start (again, on the same port). ``snapshot``: begin from these dump.rdb bytes
        (see :meth:`snapshot`) instead of from nothing (or, if persistent, from what it kept)."""
        if self.running:
            return self
        if snapshot is not None:
            self.wipe()
            (self._dir / "dump.rdb").write_bytes(snapshot)
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
        durability = [str(PROJECT_CONF)] if self.persistent else ["--save", "", "--appendonly", "no"]
        args = [
            REDIS_SERVER,
            *durability,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self._dir),
            "--daemonize", "no",
            "--logfile", str(self._dir / "redis.log"),
            *self.args,
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

    def snapshot(self) -> bytes:
        """SAVE now and return the dump.rdb bytes (to start from later: an old snapshot)."""
        answer = command(self.port, "SAVE")
        if answer != b"+OK":
            raise RuntimeError(f"SAVE failed: {answer!r}")
        return (self._dir / "dump.rdb").read_bytes()

    def wipe(self) -> None:
        """Forget what is on disk (while stopped): the next start is empty."""
        assert not self.running
        (self._dir / "dump.rdb").unlink(missing_ok=True)
        shutil.rmtree(self._dir / "appendonlydir", ignore_errors=True)

    def stop(self) -> None:
        """Stop the server (by PID): clients now get 'connection refused'. Unless persistent,
        the data is lost (a snapshot taken earlier stays on disk: :meth:`wipe` it)."""
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

    def kill(self) -> None:
        """SIGKILL (by PID), as a crash or power cut: only what Redis had on disk survives."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        self._paused = False

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
