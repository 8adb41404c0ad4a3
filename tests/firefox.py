"""A headless Firefox ESR for tests, driven over its built-in WebDriver BiDi (no geckodriver).

The same shape as tests/chromium.py::

    async with Firefox() as browser:
        page = await browser.open("http://127.0.0.1:8080/join/TOKEN")
        await page.wait_for("document.querySelector('#join') !== null")
        await page.evaluate("document.querySelector('#join').click()")

One process per :class:`Firefox`, with a new profile whose ``user.js`` turns on
the fake camera and microphone without a permission prompt, allows loopback ICE
candidates and real (not mDNS) host addresses, and turns off what would reach
for the network on its own (updates, telemetry, safe browsing, remote
settings, captive portal checks).  ``--remote-debugging-port=0`` lets Firefox
pick a free port and write it into ``WebDriverBiDiServer.json`` in the profile;
the BiDi session is the websocket ``ws://127.0.0.1:PORT/session`` (aiohttp).
The browser is ended by its PID (the process group it leads), never by name.

Inside a loopback-only network namespace Firefox gathers no ICE candidate at
all until the namespace has a default route (``ip route add default dev lo src
127.0.0.1``): scripts/test.sh sets it up with scripts/loopback-net.sh, and
:func:`ice_route` puts it back if a test took lo down and up meanwhile.  It has
no OpenH264 here (a runtime download), so it sends and receives VP8 (or
VP9/AV1), never H.264.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from tests.browser import BrowserProcess, CommandChannel, poll

BINARY = shutil.which("firefox-esr") or shutil.which("firefox") or "/usr/bin/firefox-esr"

PREFS: dict[str, bool | int | str] = {
    # Media: a fake camera (a moving colour picture) and microphone (a tone), no prompt.
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.autoplay.default": 0,  # <video autoplay> plays without a gesture
    # ICE inside a loopback-only namespace: 127.0.0.1 candidates. Host addresses stay hidden behind
    # mDNS names as in a user's Firefox: the server ignores them and connects peer-reflexively.
    "media.peerconnection.ice.loopback": True,
    "media.gmp-manager.updateEnabled": False,  # no OpenH264 download attempt
    # No network traffic of its own.
    "app.update.auto": False,
    "app.update.enabled": False,
    "app.normandy.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.search.update": False,
    "browser.newtabpage.enabled": False,
    "browser.startup.page": 0,
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.server": "",
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "services.settings.server": "http://127.0.0.1:9/",  # remote settings: refused at once
    "messaging-system.rsexperimentloader.enabled": False,
    # Background tabs keep sending media: tests run several pages at once.
    "dom.min_background_timeout_value": 4,
    "dom.timeout.enable_budget_timer_throttling": False,
}


class BiDiError(RuntimeError):
    """The browser answered a command with an error, or the page's JS threw."""


LOOPBACK_NET = Path(__file__).resolve().parent.parent / "scripts" / "loopback-net.sh"


def available() -> bool:
    return os.path.exists(BINARY)


def _has_default_route() -> bool:
    try:
        rows = [line.split() for line in Path("/proc/net/route").read_text().splitlines()[1:]]
    except OSError:
        return False
    return any(len(row) > 1 and row[1] == "00000000" for row in rows)


def ice_route() -> bool:
    """True when Firefox can gather ICE candidates here: there is a default route.

    In a loopback-only namespace (only ``lo``, and we are root in it) a missing one is
    added by scripts/loopback-net.sh; elsewhere (a real host) routes are never touched.
    """
    if _has_default_route():
        return True
    try:  # this namespace's interfaces (/sys/class/net may show the host's)
        interfaces = [line.split(":")[0].strip() for line in Path("/proc/net/dev").read_text().splitlines()[2:]]
    except OSError:
        return False
    if os.geteuid() != 0 or interfaces != ["lo"]:
        return False
    subprocess.run(["sh", str(LOOPBACK_NET)], check=False, capture_output=True, timeout=10)
    return _has_default_route()


def user_js(prefs: dict[str, bool | int | str]) -> str:
    return "".join(f"user_pref({json.dumps(name)}, {json.dumps(value)});\n" for name, value in prefs.items())


class Session:
    """One WebDriver BiDi connection: commands by id, events to the pages' consoles."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.consoles: dict[str, list[str]] = {}  # by browsing context
        self._channel = CommandChannel(ws, self._on_event, _error_of, BiDiError, "WebDriver BiDi")

    def _on_event(self, data: dict[str, Any]) -> None:
        if data.get("type") == "event" and data.get("method") == "log.entryAdded":
            entry = data["params"]
            context = entry.get("source", {}).get("context", "")
            line = f"{entry.get('level')}: {entry.get('text')}"
            self.consoles.setdefault(context, []).append(line)

    async def send(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        """One BiDi command's result; BiDiError on an error answer."""
        return await self._channel.send(method, timeout, **params)

    async def close(self) -> None:
        await self._channel.close()


def _error_of(data: dict[str, Any]) -> str | None:
    return f"{data.get('error')}: {data.get('message')}" if data.get("type") == "error" else None


class Page:
    """One tab (a top-level browsing context): navigation, JS evaluation, waiting."""

    def __init__(self, session: Session, context: str) -> None:
        self.session = session
        self.context = context
        self.console = session.consoles.setdefault(context, [])

    async def navigate(self, url: str, wait: str = "complete") -> None:
        await self.session.send("browsingContext.navigate", context=self.context, url=url, wait=wait)

    async def evaluate(self, expression: str, timeout: float = 30) -> Any:
        """Value of a JS expression (awaited if it is a promise), as JSON (as tests/chromium.py)."""
        wrapped = f"Promise.resolve({expression}).then(v => JSON.stringify(v === undefined ? null : v))"
        result = await self.session.send(
            "script.evaluate",
            timeout=timeout,
            expression=wrapped,
            target={"context": self.context},
            awaitPromise=True,
            userActivation=True,
        )
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise BiDiError(details.get("text") or str(details))
        value = result.get("result", {})
        return json.loads(value["value"]) if value.get("type") == "string" else None

    async def wait_for(self, expression: str, timeout: float = 15, interval: float = 0.05) -> Any:
        """Poll until ``expression`` is truthy; returns its value. TimeoutError names the expression."""
        return await poll(
            self.evaluate, expression, self.console, timeout=timeout, interval=interval, errors=(BiDiError,)
        )


class Firefox(BrowserProcess):
    """One headless Firefox process with a throw-away profile."""

    def __init__(self, *, prefs: dict[str, bool | int | str] | None = None, binary: str = BINARY) -> None:
        """``prefs``: more (or different) preferences on top of :data:`PREFS`."""
        super().__init__(binary)  # endpoint: ws://127.0.0.1:PORT
        self.prefs = {**PREFS, **(prefs or {})}
        self.session: Session | None = None
        self._pages: list[Page] = []

    async def start(self, timeout: float = 60) -> None:
        if not ice_route():
            raise RuntimeError("Firefox gathers no ICE candidate without a default route (scripts/loopback-net.sh)")
        self.profile = Path(tempfile.mkdtemp(prefix="firefox-test-"))
        (self.profile / "user.js").write_text(user_js(self.prefs))
        args = [
            self.binary,
            "--headless",
            "--no-remote",
            "--profile",
            str(self.profile),
            "--remote-debugging-port=0",
            "about:blank",
        ]
        env = {**os.environ, "MOZ_CRASHREPORTER_DISABLE": "1", "HOME": str(self.profile)}
        port_file = self.profile / "WebDriverBiDiServer.json"

        def bidi_port() -> int | None:
            with contextlib.suppress(OSError, ValueError, KeyError):
                return int(json.loads(port_file.read_text())["ws_port"])
            return None

        port = await self._launch(args, env, bidi_port, timeout, "WebDriver BiDi")
        self.endpoint = f"ws://127.0.0.1:{port}"
        self._http = aiohttp.ClientSession()
        ws = await self._http.ws_connect(f"{self.endpoint}/session", max_msg_size=64 * 1024 * 1024)
        self.session = Session(ws)
        await self.session.send("session.new", capabilities={})
        await self.session.send("session.subscribe", events=["log.entryAdded"])

    async def open(self, url: str = "about:blank") -> Page:
        """A new tab at ``url`` (loaded when this returns)."""
        assert self.session is not None, "start() first"
        created = await self.session.send("browsingContext.create", type="tab")
        page = Page(self.session, created["context"])
        self._pages.append(page)
        if url != "about:blank":
            await page.navigate(url)
        return page

    async def close_page(self, page: Page) -> None:
        if self.session is not None:
            with contextlib.suppress(BiDiError, asyncio.TimeoutError):
                await self.session.send("browsingContext.close", timeout=10, context=page.context)
        with contextlib.suppress(ValueError):
            self._pages.remove(page)

    async def _close_session(self) -> None:
        self._pages.clear()
        if self.session is not None:
            with contextlib.suppress(Exception):
                await self.session.send("session.end", timeout=5)
            await self.session.close()
            self.session = None
