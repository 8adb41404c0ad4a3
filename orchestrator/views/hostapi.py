"""The district host's live channel, and the crew's cue for a host.

``GET /host/{token}/ws`` (the join token authenticates): the server pushes one
``state`` message whenever the show changes anything this studio cares about
(tally, cue, its WHIP session, the picture quality it should send) and a
``stats`` message every couple of seconds; the page sends what it measures
(round-trip time, loss) back as ``stats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from orchestrator import catalogue
from orchestrator.answers import CueAnswer
from orchestrator.bodies import CueBody
from orchestrator.fields import Number
from orchestrator.joingrant import verify_join
from orchestrator.showrunner import ShowRunner
from orchestrator.store import ShowState
from orchestrator.views.common import answer, body, operator_name, show_runner
from rooms.hostchannel import LOW_QUALITY, OFF, PREVIEW, PROGRAM, wanted_quality

STATS_EVERY = 2.0  # seconds between stats pushes to a host page


PANIC, BLACK = "panic", "black"  # tallies beyond rooms.hostchannel's: the whole program is off air


def host_tally(runner: ShowRunner, studio_id: str, state: ShowState) -> str:
    """What is really on air for this studio: panic and black first, then its place on either bus.

    A studio in any place of the program's layout (the inset of a pip, half of side by side)
    is on air; a program studio the clock has fallen back from is not.
    """
    if state.panic:
        return PANIC
    if state.ftb:
        return BLACK
    fallback = runner.program.fallback
    if fallback is not None and fallback.get("from") == studio_id:
        return OFF
    if fallback is not None and fallback.get("to") == studio_id:
        return PROGRAM
    if state.program is not None and studio_id in (state.program, *state.layout_studios):
        return PROGRAM
    if state.preview is not None and studio_id in (state.preview, *state.preview_studios):
        return PREVIEW
    return OFF


def host_state(runner: ShowRunner, studio_id: str, state: ShowState) -> dict[str, Any]:
    """Everything the host page shows, from one show state.

    ``cue.when`` is ``now`` while the studio is on air, else ``next``: the label the host reads.
    """
    tally_state = host_tally(runner, studio_id, state)
    cue = state.cues.get(studio_id)
    session = runner.sessions.get(studio_id)
    when = "now" if tally_state == PROGRAM else "next"
    product = catalogue.product_view(runner.show, state, str(cue.get("product"))) if cue else None
    return {
        "type": "state",
        "tally": tally_state,
        "quality": wanted_quality(PREVIEW if tally_state in (PANIC, BLACK) else tally_state),
        "low": LOW_QUALITY,
        "cue": {**cue, "product": product, "when": when} if cue else None,
        "session": {"id": session.id, "client": session.client} if session else None,
        "talkback": runner.returns.talking_to(studio_id),  # the crew members talking to this host now
    }


def host_stats(runner: ShowRunner, studio_id: str) -> dict[str, Any]:
    session = runner.sessions.get(studio_id)
    return {"type": "stats", "server": session.stats() if session else None}


async def _push(ws: web.WebSocketResponse, runner: ShowRunner, studio_id: str) -> None:
    queue = runner.changes.subscribe(runner.state)
    try:
        last: dict[str, Any] | None = None
        next_stats = time.monotonic() + STATS_EVERY
        while not ws.closed:
            try:
                state = await asyncio.wait_for(queue.get(), max(next_stats - time.monotonic(), 0.01))
            except TimeoutError:
                state = runner.state  # re-check: a fallback in the clock changes the tally too
            if state is not None:
                message = host_state(runner, studio_id, state)
                if message != last:
                    await ws.send_json(message)
                    last = message
            if time.monotonic() >= next_stats:
                await ws.send_json(host_stats(runner, studio_id))
                next_stats = time.monotonic() + STATS_EVERY
    finally:
        runner.changes.unsubscribe(queue)


CLIENT_STATS = ("rtt_ms", "loss_pct", "kbps", "fps", "width", "height")  # what the host page measures
_NUMBER: TypeAdapter[float] = TypeAdapter(Number)


def _take_client_stats(runner: ShowRunner, studio_id: str, client: str, data: dict[str, Any]) -> None:
    """The page's own measurements (only the browser knows the round-trip time)."""
    session = runner.sessions.get(studio_id)
    if session is None or (client and session.client and session.client != client):
        return
    numbers = {}
    for key in CLIENT_STATS:
        with contextlib.suppress(ValidationError):  # a value the page could not measure is left out
            numbers[key] = _NUMBER.validate_python(data.get(key))
    session.client_stats = numbers


async def host_socket(request: web.Request) -> web.StreamResponse:
    runner, grant = verify_join(request.app, request.match_info["token"])
    client = request.query.get("client", "")[:64]
    ws = web.WebSocketResponse(heartbeat=10)
    await ws.prepare(request)
    sockets = request.app[HOST_SOCKETS]
    sockets.add(ws)
    pusher = asyncio.ensure_future(_push(ws, runner, grant.studio))
    try:
        async for msg in ws:
            if msg.type != web.WSMsgType.TEXT:
                continue
            with contextlib.suppress(ValueError, TypeError):
                data = msg.json()
                if isinstance(data, dict) and data.get("type") == "stats":
                    _take_client_stats(runner, grant.studio, client, data)
    finally:
        sockets.discard(ws)
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await pusher
        await ws.close()
    return ws


async def cue(request: web.Request) -> web.Response:
    """``POST /api/shows/{show}/studios/{studio}/cue`` {"product": id or null, "message": text}."""
    actor = operator_name(request)
    runner = show_runner(request)
    asked = await body(request, CueBody)
    studio_id = request.match_info["studio"]
    state = await runner.set_cue(studio_id, asked.product, asked.message.strip(), actor)
    return answer(CueAnswer(studio=studio_id, cue=state.cues[studio_id], version=state.version))


HOST_SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("host_sockets")


def setup(app: web.Application) -> None:
    """Track host sockets so shutdown closes them instead of waiting for the pages to go."""
    app[HOST_SOCKETS] = set()

    async def close_all(app: web.Application) -> None:
        sockets = app[HOST_SOCKETS]
        for ws in [*sockets]:
            await ws.close(code=1001, message=b"server shutting down")

    app.on_shutdown.append(close_all)
