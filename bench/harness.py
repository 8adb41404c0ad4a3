"""What every benchmark needs: a server process with a generated config, its API, its CPU.

    with BenchServer(tmp, studios=4, width=1280, height=720, fps=30) as server:
        server.api("/api/shows/bench/cut", {"studio": "s0"})
        cores = server.cpu_seconds()

The server runs as its own process (``python -m orchestrator serve``), so its CPU
is read from /proc exactly (user + system time of all its threads) and the bench's
own clients never share its GIL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rooms.jointoken import JoinTokens  # noqa: E402
from tests.ports import free_port  # noqa: E402
from tests.studioprocess import stop_processes  # noqa: E402 (the benches import it from here too)

OPERATOR = "bench-operator-token"
SECRET = "bench-link-secret-0123456789"
SHOW = "bench"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """CPU seconds (user + system) of a process, or of one of its threads."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def api(port: int, path: str, body: dict[str, object] | None = None, timeout: float = 5) -> dict[str, Any]:
    """One control API call as the bench's operator; a JSON object back."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as res:
        return dict(json.loads(res.read()))


def server_table(directory: Path, port: int) -> list[str]:
    """The lines of a bench config's ``[server]`` table: ``port``, the bench's operator token and
    link secret, ICE on 127.0.0.1, data under ``directory``."""
    return [
        "[server]",
        f"listen_port = {port}",
        f'operator_token = "{OPERATOR}"',
        f'link_secret = "{SECRET}"',
        'ice_hosts = ["127.0.0.1"]',
        f'data_dir = "{directory / "data"}"',
    ]


def bench_config(
    directory: Path,
    port: int,
    studios: int,
    width: int = 1280,
    height: int = 720,
    fps: int = 30,
    show_extra: str = "",
    products: int = 3,
    ingest_workers: int | str = 0,
) -> Path:
    """Write a one-show config (show ``bench``, studios ``s0``..) and return its path.

    ``show_extra`` is TOML placed in the ``[[shows]]`` table before its studios (keys such as
    ``video_bitrate = 2500000``, then optionally a ``[shows.outputs]`` table).
    ``ingest_workers``: the config's ``ingest.workers`` (0: ingest in the server process).
    """
    workers = f'"{ingest_workers}"' if ingest_workers == "auto" else str(int(ingest_workers))
    lines = [
        "[ingest]",
        f"workers = {workers}",
        *server_table(directory, port),
        "[[shows]]",
        f'id = "{SHOW}"',
        'title = "Bench"',
        f"width = {width}",
        f"height = {height}",
        f"fps = {fps}",
        show_extra.strip(),
    ]
    for i in range(studios):
        lines += ["[[shows.studios]]", f'id = "s{i}"', f'name = "Studio {i}"']
    for i in range(products):
        lines += ["[[shows.products]]", f'id = "p{i}"', f'name = "汪集鸡汤 {i}"', 'enterprise = "武汉汪集鸡汤有限公司"',
                  f"price = {39.9 + i}", "was_price = 59.9", 'promo = "买二赠一"', "stock = 5000"]  # fmt: skip
    path = directory / "bench.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def report(row: str, result: dict[str, Any]) -> None:
    """One run's row of the table on stdout; its whole result as one JSON line on stderr."""
    print(row, flush=True)
    print(json.dumps(result), file=sys.stderr, flush=True)


class BenchServer:
    """``broadcast serve`` on a free port with a generated config; ended on exit.

    Raises RuntimeError if the API does not answer within ``start_timeout`` seconds.
    """

    def __init__(
        self,
        directory: Path,
        studios: int,
        width: int = 1280,
        height: int = 720,
        fps: int = 30,
        show_extra: str = "",
        log: IO[Any] | int = subprocess.DEVNULL,
        start_timeout: float = 30,
        ingest_workers: int | str = 0,
    ) -> None:
        self.port = free_port()
        self.config = bench_config(
            directory, self.port, studios, width, height, fps, show_extra, ingest_workers=ingest_workers
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.tokens = JoinTokens(SECRET, 3600)
        self._log = log
        self._start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> BenchServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "serve", "--config", str(self.config)],
            cwd=ROOT,
            stdout=self._log,
            stderr=self._log,
        )
        deadline = time.time() + self._start_timeout
        while True:
            try:
                self.state()
                return self
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.__exit__(None, None, None)
                    raise RuntimeError("server did not start") from None
                time.sleep(0.2)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.proc is not None:
            stop_processes([self.proc], 15)

    def api(self, path: str, body: dict[str, object] | None = None) -> dict[str, Any]:
        return api(self.port, path, body)

    def state(self) -> dict[str, Any]:
        return api(self.port, f"/api/shows/{SHOW}")

    def whip_url(self, studio: str) -> str:
        return f"{self.url}/whip/{SHOW}/{studio}"

    def token(self, studio: str) -> str:
        return self.tokens.mint(SHOW, studio)

    def cpu_seconds(self, tid: int | None = None) -> float:
        return cpu_seconds(self.pid, tid)

    def tree_cpu_seconds(self) -> float:
        """CPU seconds of the server and its child processes (the ingest workers, ``ingest.workers``)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return self.cpu_seconds() + sum(cpu_seconds(int(child)) for child in children)

    def wait_online(self, count: int, timeout: float = 30) -> None:
        """Until ``count`` studios are online; RuntimeError after ``timeout`` seconds."""
        deadline = time.time() + timeout
        while True:
            online = sum(1 for s in self.state()["studios"] if s["online"])
            if online >= count:
                return
            if time.time() > deadline:
                raise RuntimeError(f"only {online}/{count} studios came online")
            time.sleep(0.3)
