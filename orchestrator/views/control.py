"""The production crew's page and what it streams: live state, previews, the log."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime
import io
import json
import logging
import zoneinfo
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from orchestrator.appkeys import CLUSTER, STORE
from orchestrator.auth import operator, same_origin
from orchestrator.errors import Forbidden, NotFound
from orchestrator.livestate import LivePage, LiveState, LiveStates
from orchestrator.showrunner import ShowRunner
from orchestrator.store import StoreUnavailable
from orchestrator.views.common import show_runner

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent.parent / "static"
STATE_EVERY_S = 1.0  # stats and meters refresh; state changes are pushed at once
MJPEG_BOUNDARY = "frame"
CLOSE_TIMEOUT_S = 2.0  # closing a page that stopped reading: then the TCP connection is cut


async def page(request: web.Request) -> web.Response:
    runner = show_runner(request)
    settings = {"show": runner.show.id, "title": runner.show.title}
    text = (STATIC / "control.html").read_text(encoding="utf-8")
    text = text.replace("/*SETTINGS*/null", json.dumps(settings, ensure_ascii=False).replace("</", "<\\/"))
    return web.Response(text=text, content_type="text/html", headers={"Cache-Control": "no-store"})


# The pages' scripts and styles (orchestrator/static/), the only files /static/{name} serves.
STATIC_FILES = ("control.js", "control.css", "monitor.js", "price.js", "returnfeed.js", "talkback.js")


async def static(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise NotFound("no such file")
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})


async def live_state(request: web.Request) -> web.WebSocketResponse:
    """Pushes the show's state on every change (and each second for stats) plus new events.

    The messages are built once per show for all its pages (orchestrator/livestate.py); this
    handler only sends this page's queue. A page too far behind is closed (1013, try again)."""
    runner = show_runner(request)
    operator(request)
    if not same_origin(request):  # cookie-riding from another site's page
        raise Forbidden("WebSocket from another origin refused")
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    request.app[CONTROL_SOCKETS].add(ws)
    store = request.app[STORE]
    last_event_at = 0.0  # this page gets the events newer than the latest one now
    with contextlib.suppress(StoreUnavailable):
        recent = await store.events(runner.show.id, 1)
        last_event_at = recent[-1].at if recent else 0.0
    cluster = request.app.get(CLUSTER)
    node = cluster.node if cluster is not None else None  # the node running the show (a cluster)
    every = STATE_EVERY_S
    lives = request.app[LIVE_STATES]
    live, page = lives.join(runner, lambda: LiveState(runner, store, node, every), last_event_at)
    reader = asyncio.ensure_future(_drain(ws))
    sender = asyncio.ensure_future(_send(ws, page))
    behind = asyncio.ensure_future(page.behind.wait())
    try:
        await asyncio.wait({reader, sender, behind}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        request.app[CONTROL_SOCKETS].discard(ws)
        await lives.leave(live, page)
        for task in (reader, sender, behind):
            task.cancel()
        if page.behind.is_set():
            log.info("show %s: a control page fell too far behind; closing it", runner.show.id)
            await _close(ws, WSCloseCode.TRY_AGAIN_LATER, b"too far behind: reload", request.transport)
        else:
            await ws.close()
    return ws


async def _send(ws: web.WebSocketResponse, page: LivePage) -> None:
    try:
        while not ws.closed:
            await ws.send_str(await page.get())
    except (ConnectionResetError, RuntimeError):
        pass  # the page went away mid-send


async def _close(
    ws: web.WebSocketResponse, code: int, message: bytes, transport: asyncio.Transport | None = None
) -> None:
    """Close a page that may not be reading: bounded, then its connection (if given) is cut."""
    try:
        await asyncio.wait_for(ws.close(code=code, message=message), CLOSE_TIMEOUT_S)
    except (TimeoutError, ConnectionResetError):
        if transport is not None:
            transport.abort()


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the page sends, so closes and pings are handled."""
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            return


def _iso(at: float, zone: datetime.tzinfo) -> str:
    """ISO 8601 with the zone's offset (``2026-05-10T12:01:05.123+08:00``)."""
    return datetime.datetime.fromtimestamp(at, zone).isoformat(timespec="milliseconds")


async def events_csv(request: web.Request) -> web.Response:
    """The audit trail for the sales team: when each thing went on air, by whom."""
    runner = show_runner(request)
    operator(request)
    events = await request.app[STORE].events(runner.show.id, 10_000)
    out = io.StringIO()
    writer = csv.writer(out)
    zone = zoneinfo.ZoneInfo(runner.show.timezone)
    writer.writerow(["time", "kind", "actor", "studio", "product", "slot", "price", "on_air_s", "detail"])
    for e in events:
        d: dict[str, Any] = e.detail
        writer.writerow(
            [_iso(e.at, zone), e.kind, e.actor, d.get("studio", ""), d.get("product", ""), d.get("slot", ""),
             d.get("price", ""), d.get("on_air_s", ""), json.dumps(d, ensure_ascii=False)]
        )  # fmt: skip
    name = f"{runner.show.id}-events.csv"
    # BOM: spreadsheet programs then read the Chinese product names as UTF-8.
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _source(request: web.Request, runner: ShowRunner) -> str:
    source = request.match_info["source"]
    if source not in runner.multiview.monitors and runner.show.studio(source) is None:
        raise NotFound(f"no preview source {source!r}")
    return source


async def snapshot(request: web.Request) -> web.Response:
    runner = show_runner(request)
    operator(request)
    shot = runner.multiview.snapshot(_source(request, runner))
    if shot is None:
        raise NotFound("no picture yet (studio offline?)")
    return web.Response(body=shot.jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})


async def mjpeg(request: web.Request) -> web.StreamResponse:
    """A multipart JPEG stream at the multiview rate: an <img> shows it live."""
    runner = show_runner(request)
    operator(request)
    source = _source(request, runner)
    response = web.StreamResponse(
        headers={
            "Content-Type": f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}",
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    seq = 0
    closing = request.app[CLOSING]
    try:
        while not closing.is_set():
            shot = runner.multiview.snapshot(source)
            if shot is not None and shot.seq != seq:
                seq = shot.seq
                head = f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(shot.jpeg)}\r\n\r\n"
                await response.write(head.encode() + shot.jpeg + b"\r\n")
            await asyncio.sleep(runner.multiview.period / 2)
    except ConnectionResetError:
        pass  # the page closed the stream
    return response


CONTROL_SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("control_sockets")
CLOSING: web.AppKey[asyncio.Event] = web.AppKey("control_closing")
LIVE_STATES: web.AppKey[LiveStates] = web.AppKey("control_live_states")


def setup(app: web.Application) -> None:
    """On shutdown, end the control pages' sockets and MJPEG streams instead of waiting for the pages.

    Without this aiohttp waits for every open handler (its shutdown timeout, 60 s) before stopping.
    """
    app[CONTROL_SOCKETS] = set()
    app[CLOSING] = asyncio.Event()
    app[LIVE_STATES] = LiveStates()

    async def close_all(app: web.Application) -> None:
        app[CLOSING].set()
        # All at once and bounded: a page that stopped reading must not hold up the shutdown.
        bye = b"server shutting down"
        await asyncio.gather(*(_close(ws, WSCloseCode.GOING_AWAY, bye) for ws in app[CONTROL_SOCKETS]))
        await app[LIVE_STATES].stop()

    app.on_shutdown.append(close_all)
