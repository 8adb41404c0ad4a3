"""What the test browsers (tests/chromium.py, tests/firefox.py) share: waiting on a page
condition, and the browser process itself (its throw-away profile, its HTTP client, ending
it by its PID with the process group it leads)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp


async def poll(
    evaluate: Callable[[str], Awaitable[Any]],
    expression: str,
    console: list[str],
    *,
    timeout: float,
    interval: float,
    errors: tuple[type[BaseException], ...],
) -> Any:
    """Evaluate ``expression`` until truthy; returns its value.

    ``errors`` (the page's JS exceptions) count as not yet; TimeoutError names the
    expression, its last value and the page's console tail.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        with contextlib.suppress(*errors):
            last = await evaluate(expression)
            if last:
                return last
        if time.monotonic() > deadline:
            tail = "\n".join(console[-15:])
            raise TimeoutError(f"waited {timeout}s for {expression!r} (last {last!r}); console:\n{tail}")
        await asyncio.sleep(interval)


def end_process_group(proc: subprocess.Popen[bytes], grace: float = 5) -> None:
    """End a browser started with ``start_new_session=True``: SIGTERM to its group, SIGKILL after ``grace``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    # Children that outlived the browser (same group): make sure they go too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class BrowserProcess:
    """A headless browser process with a throw-away profile; subclasses start it and talk to it.

    ``async with`` starts it and closes it; :meth:`close` ends pages and the protocol session
    (:meth:`_close_session`), then the HTTP client, the process group and the profile.
    """

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.proc: subprocess.Popen[bytes] | None = None
        self.profile: Path | None = None
        self.endpoint = ""
        self._http: aiohttp.ClientSession | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self) -> None:
        raise NotImplementedError

    async def _close_session(self) -> None:
        """Close pages and the protocol session (subclasses)."""

    async def close(self) -> None:
        await self._close_session()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self.proc is not None:
            await asyncio.to_thread(self.kill)  # waiting for the exit must not stall the loop
        if self.profile is not None:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = None

    def kill(self, grace: float = 5) -> None:
        """End the browser by its PID (and its process group); SIGKILL after ``grace`` seconds."""
        if self.proc is not None:
            end_process_group(self.proc, grace)
        self.proc = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
