"""A headless Chromium for tests, driven over the DevTools protocol.

Reusable by any test that needs a real browser page::

    async with Chromium() as browser:
        page = await browser.open("http://127.0.0.1:8080/join/TOKEN")
        await page.wait_for("document.querySelector('#join') !== null")
        await page.evaluate("document.querySelector('#join').click()")
        await page.screenshot(Path("tests/artifacts/join.png"))

One process per :class:`Chromium` with its own temporary profile; it is ended by
its PID (the whole process group it leads), never by name. Only aiohttp is used
to talk to it. ``--remote-debugging-port=0`` lets Chromium pick a free port and
write it into ``DevToolsActivePort`` in the profile, so parallel browsers never
collide.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from tests.browser import BrowserProcess, CommandChannel, poll

BINARY = shutil.which("chromium") or "/usr/bin/chromium"

BASE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    # Background tabs must keep sending media: tests run several pages at once.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
)


class DevToolsError(RuntimeError):
    """The browser answered a command with an error, or JS threw."""


def available() -> bool:
    return os.path.exists(BINARY)


class Page:
    """One tab: commands, JS evaluation, waiting, screenshots."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, target_id: str) -> None:
        self.target_id = target_id
        self.console: list[str] = []  # console messages and uncaught exceptions, for failure messages
        self._channel = CommandChannel(
            ws, self._on_event, lambda data: str(data["error"]) if "error" in data else None, DevToolsError, "DevTools"
        )

    def _on_event(self, data: dict[str, Any]) -> None:
        if data.get("method") == "Runtime.consoleAPICalled":
            args = data["params"].get("args", [])
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in args)
            self.console.append(f"{data['params'].get('type')}: {text}")
        elif data.get("method") == "Runtime.exceptionThrown":
            details = data["params"]["exceptionDetails"]
            self.console.append(f"exception: {details.get('exception', {}).get('description') or details}")

    async def send(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        """One DevTools command's result; DevToolsError on an error answer."""
        return await self._channel.send(method, timeout, **params)

    async def evaluate(self, expression: str, timeout: float = 30) -> Any:
        """Value of a JS expression (awaited if it is a promise), as JSON."""
        result = await self.send(
            "Runtime.evaluate",
            timeout=timeout,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
            userGesture=True,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise DevToolsError(details.get("exception", {}).get("description") or details.get("text"))
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout: float = 15, interval: float = 0.05) -> Any:
        """Poll until ``expression`` is truthy; returns its value. TimeoutError names the expression."""
        return await poll(
            self.evaluate, expression, self.console, timeout=timeout, interval=interval, errors=(DevToolsError,)
        )

    async def navigate(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def set_viewport(self, width: int, height: int, mobile: bool = False, scale: float = 1) -> None:
        await self.send(
            "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=scale, mobile=mobile
        )

    async def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = await self.send("Page.captureScreenshot", **params)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    async def close(self) -> None:
        await self._channel.close()


class Chromium(BrowserProcess):
    """One headless Chromium process with a throw-away profile."""

    def __init__(
        self,
        *,
        lang: str = "en-US",
        fake_camera: str = "fps=30",
        extra_flags: tuple[str, ...] = (),
        binary: str = BINARY,
    ) -> None:
        """``fake_camera``: options of the fake capture device (its default is 20 fps)."""
        super().__init__(binary)  # endpoint: http://127.0.0.1:PORT
        self.fake_camera = fake_camera
        self.lang = lang
        self.extra_flags = extra_flags
        self._pages: list[Page] = []

    async def start(self, timeout: float = 30) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-test-"))
        args = [
            self.binary,
            *BASE_FLAGS,
            f"--use-fake-device-for-media-stream={self.fake_camera}"
            if self.fake_camera
            else "--use-fake-device-for-media-stream",
            f"--lang={self.lang}",
            f"--accept-lang={self.lang}",
            f"--user-data-dir={self.profile}",
            "--remote-debugging-port=0",
            *self.extra_flags,
            "about:blank",
        ]
        env = {**os.environ, "LANGUAGE": self.lang.replace("-", "_"), "LANG": "C.UTF-8"}
        port_file = self.profile / "DevToolsActivePort"

        def devtools_port() -> int | None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                return int(port_file.read_text().split()[0])
            return None

        port = await self._launch(args, env, devtools_port, timeout, "DevTools")
        self.endpoint = f"http://127.0.0.1:{port}"
        self._http = aiohttp.ClientSession()

    async def open(self, url: str = "about:blank") -> Page:
        """A new tab at ``url``, with Page and Runtime events on."""
        assert self._http is not None, "start() first"
        async with self._http.put(f"{self.endpoint}/json/new?about:blank") as res:
            target = await res.json()
        ws = await self._http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024)
        page = Page(ws, target["id"])
        self._pages.append(page)
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        if url != "about:blank":
            await page.navigate(url)
        return page

    async def close_page(self, page: Page) -> None:
        await page.close()
        if self._http is not None:
            with contextlib.suppress(aiohttp.ClientError):
                async with self._http.get(f"{self.endpoint}/json/close/{page.target_id}"):
                    pass
        with contextlib.suppress(ValueError):
            self._pages.remove(page)

    async def _close_session(self) -> None:
        for page in list(self._pages):
            with contextlib.suppress(Exception):
                await page.close()
        self._pages.clear()
