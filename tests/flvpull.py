"""What a CDN pulling ``GET /live/{show}.flv`` gets: one reader for every test that pulls FLV
(and :func:`read_all` for a reader in the same process, of an ``FlvOutput``'s subscription)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable

import aiohttp


class FlvPull:
    """A background pull of ``url`` into :attr:`data`, from :meth:`start` to :meth:`stop`.

    :attr:`arrivals` says when the bytes came: (bytes received so far, ``time.time()``) per
    chunk.  Always :meth:`cancel` in a ``finally`` (harmless after a stop, or before a start).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.data = bytearray()
        self.arrivals: list[tuple[int, float]] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Future[None] | None = None

    def start(self) -> FlvPull:
        self._task = asyncio.ensure_future(self._run())
        return self

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as http, http.get(self.url) as res:
            assert res.status == 200, await res.text()
            assert res.headers["Content-Type"].startswith("video/x-flv")
            async for chunk in res.content.iter_any():
                self.data.extend(chunk)
                self.arrivals.append((len(self.data), time.time()))
                if self._stop.is_set():
                    return

    async def stop(self, timeout: float = 5.0) -> bytes:
        """End the pull at the next chunk (within ``timeout`` s); what it got."""
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout)
        return bytes(self.data)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()


async def read_all(reader: AsyncIterable[bytes]) -> bytes:
    """Every chunk of ``reader`` (``FlvOutput.subscribe()``) until it ends (the output closed)."""
    return b"".join([chunk async for chunk in reader])


async def record_flv(url: str, seconds: float) -> bytes:
    """What a CDN pulling ``url`` gets during ``seconds`` (counted from the response's headers)."""
    data = bytearray()
    async with aiohttp.ClientSession() as http, http.get(url) as res:
        assert res.status == 200, await res.text()
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            try:
                chunk = await asyncio.wait_for(res.content.readany(), max(0.01, end - loop.time()))
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
    return bytes(data)
