"""What the test browsers (tests/chromium.py, tests/firefox.py) share: the command channel of
their protocols (DevTools, WebDriver BiDi), waiting on a page condition, and the browser process
itself (its throw-away profile, its HTTP client, ending it by its PID with the process group it
leads)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
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


class CommandChannel:
    """Commands by id over one WebSocket, the shape DevTools and WebDriver BiDi share.

    ``send`` posts ``{"id", "method", "params"}`` and waits for the message with that id;
    every other message goes to ``on_event``.  ``error_of`` reads a protocol's error from an
    answer (None: success), raised as ``error_type``; so is a connection that closes first
    ("``protocol`` connection closed").
    """

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        on_event: Callable[[dict[str, Any]], None],
        error_of: Callable[[dict[str, Any]], str | None],
        error_type: type[Exception],
        protocol: str,
    ) -> None:
        self.ws = ws
        self.protocol = protocol
        self._on_event = on_event
        self._error_of = error_of
        self._error_type = error_type
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            fut = self._pending.pop(data["id"], None) if isinstance(data.get("id"), int) else None
            if fut is not None:
                if not fut.done():
                    fut.set_result(data)
            else:
                self._on_event(data)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(self._error_type(f"{self.protocol} connection closed"))

    async def send(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        """The answer's ``result`` (a dict); raises ``error_type`` on an error answer, TimeoutError."""
        msg_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        await self.ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        data = await asyncio.wait_for(fut, timeout)
        error = self._error_of(data)
        if error is not None:
            raise self._error_type(f"{method}: {error}")
        return dict(data.get("result", {}))

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        await self.ws.close()


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

    async def _launch(
        self, args: list[str], env: dict[str, str], port: Callable[[], int | None], timeout: float, protocol: str
    ) -> int:
        """Start ``args`` in a process group of its own (its children go when it is ended by PID) and
        poll ``port()`` until the browser says where its ``protocol`` listens: that port.

        RuntimeError if the browser exits first; TimeoutError (the browser closed) after ``timeout`` s.
        """
        name = Path(self.binary).name
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while (found := port()) is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.proc.returncode} at start")
            if time.monotonic() > deadline:
                await self.close()
                raise TimeoutError(f"{name} did not open its {protocol} port")
            await asyncio.sleep(0.05)
        return found

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
