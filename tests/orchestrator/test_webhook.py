"""The webhook against a real receiver: backoff between attempts, giving up, a bounded queue,
and the signature check a receiver runs."""

from __future__ import annotations

import asyncio
import json
import time
from fractions import Fraction
from typing import Any

from aiohttp import web

from mixer.encodedpacket import EncodedPacket
from orchestrator.webhook import SIGNATURE_HEADER, Webhook, sign, verify

SECRET = "webhook-secret-0123456789"


def _cue(n: int) -> EncodedPacket:
    body = json.dumps({"id": f"t{n}-0", "event": "card.shown", "stream_time": n / 30}).encode()
    return EncodedPacket("data", body, n, n, Fraction(1, 30), False)


async def test_retries_back_off_then_give_up_and_the_queue_is_bounded(aiohttp_server: Any) -> None:
    calls: list[tuple[float, str, dict[str, Any]]] = []
    slow = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        assert verify(SECRET, request.headers[SIGNATURE_HEADER], body)
        calls.append((time.monotonic(), request.headers["X-Broadcast-Delivery"], json.loads(body)))
        await slow.wait()
        return web.Response(status=503)

    app = web.Application()
    app.router.add_post("/hook", handle)
    srv = await aiohttp_server(app, host="127.0.0.1")
    loop = asyncio.get_running_loop()
    hook = Webhook("show", str(srv.make_url("/hook")), SECRET, loop, queue_size=2, attempts=3, backoff=0.1)
    task = asyncio.ensure_future(hook.run())
    try:
        for n in range(5):  # the first goes out at once and hangs; 4 more wait in a queue of 2
            await asyncio.to_thread(hook.put, _cue(n))  # from another thread, as the encoder does
            await asyncio.sleep(0.05)
        assert hook.dropped == 2 and len(hook._queue) == 2
        slow.set()
        async with asyncio.timeout(10):
            while hook.failed < 3:
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
    ids = [c[1] for c in calls]
    # One cue at a time, in order, each tried 3 times; the two oldest waiting were dropped.
    assert ids == ["t0-0"] * 3 + ["t3-0"] * 3 + ["t4-0"] * 3, ids
    gaps = [b[0] - a[0] for a, b in zip(calls[3:6], calls[4:6], strict=False)]
    # 0.1 s, then 0.2 s: sleeps are never short; the upper bounds only catch a wrong unit (a
    # loaded 2-core box adds wake-up delay to each).
    assert 0.08 <= gaps[0] < 3 and 0.18 <= gaps[1] < 3, gaps
    assert hook.status()["failed"] == 3 and hook.status()["last_error"] == "HTTP 503"
    assert calls[0][2]["show"] == "show" and calls[0][2]["aired_at"] > 0


def test_a_receiver_refuses_stale_forged_or_changed_deliveries() -> None:
    body = b'{"event":"card.shown"}'
    now = 1_800_000_000
    header = sign(SECRET, now, body)
    assert verify(SECRET, header, body, now=now + 10)
    assert not verify(SECRET, header, body, now=now + 3600)  # replayed an hour later
    assert not verify("another-secret-0123", header, body, now=now)
    assert not verify(SECRET, header, body + b" ", now=now)
    assert not verify(SECRET, "garbage", body, now=now)
