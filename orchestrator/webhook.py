"""The show's webhook: every timed metadata cue, POSTed signed to the commerce back-end.

It is a :class:`~mixer.outputs.sink.Sink` that takes only ``data`` packets, so it sits
in the packet stream like any output and, behind the show's delay line, follows the
delayed timeline: a cue is sent when its frame airs, not when the crew clicked.

Delivery (same shape as common webhook practice):

- ``POST webhook_url`` with a JSON body: the cue (mixer/timedmetadata.py: event, product,
  ``stream_time``, ``program_date_time``) plus ``show`` and ``aired_at`` (UNIX seconds
  when its frame left the delay);
- ``X-Broadcast-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
  (verify with :func:`verify`; reject a ``t`` older than a few minutes against replays),
  ``X-Broadcast-Event``, ``X-Broadcast-Delivery`` (the cue id: the same on every retry);
- any 2xx is success; anything else, or no answer in ``timeout`` seconds, is retried after
  ``backoff`` seconds, doubling up to ``backoff_max``, at most ``attempts`` times;
- one delivery at a time, in stream order (a cue is retried before the next is sent);
  at most ``queue_size`` cues wait, the oldest go first when it is full.

Nothing here can hold up the program: ``put`` (encoder or delay thread) only hands the cue
to the event loop, and the loop side only appends to a bounded deque.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections import deque
from typing import Any

import aiohttp

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.sink import Sink

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Broadcast-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, tolerance: float = 300.0, now: float | None = None) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` and is at most ``tolerance`` seconds old."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), f"t={timestamp},v1={fields.get('v1', '')}")


class Webhook(Sink):
    name = "webhook"
    accepts_data = True
    wants_media = False

    def __init__(
        self,
        show_id: str,
        url: str,
        secret: str,
        loop: asyncio.AbstractEventLoop,
        *,
        queue_size: int = 1000,
        attempts: int = 6,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 5.0,
    ) -> None:
        self.show_id = show_id
        self.url = url
        self.secret = secret
        self.loop = loop
        self.attempts = attempts
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.timeout = timeout
        self._queue: deque[bytes] = deque(maxlen=queue_size)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.delivered = 0
        self.failed = 0  # cues given up after every attempt
        self.dropped = 0  # cues pushed out of a full queue
        self.retries = 0
        self.last_error: str | None = None

    # --- any thread ---------------------------------------------------------------
    def start(self, fmt: ProgramFormat) -> None:
        pass

    def put(self, packet: EncodedPacket) -> None:
        if packet.kind != "data" or self._closed:
            return
        body = _body(self.show_id, packet.data, time.time())
        with contextlib.suppress(RuntimeError):  # the loop is closed: the show is gone
            self.loop.call_soon_threadsafe(self._enqueue, body)

    def close(self) -> None:
        self._closed = True

    # --- event loop ---------------------------------------------------------------
    def _enqueue(self, body: bytes) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(body)
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled (the show runner owns the task)."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                if not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                body = self._queue.popleft()
                await self._deliver(http, body)

    async def _deliver(self, http: aiohttp.ClientSession, body: bytes) -> None:
        cue = json.loads(body)
        headers = {"Content-Type": "application/json", "X-Broadcast-Event": str(cue.get("event"))}
        headers["X-Broadcast-Delivery"] = str(cue.get("id"))
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            headers[SIGNATURE_HEADER] = sign(self.secret, int(time.time()), body)
            try:
                async with http.post(self.url, data=body, headers=headers) as res:
                    if 200 <= res.status < 300:
                        self.delivered += 1
                        return
                    self.last_error = f"HTTP {res.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            if attempt == self.attempts:
                break
            self.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)
        self.failed += 1
        log.warning(
            "show %s: webhook gave up on %s after %d attempts: %s",
            self.show_id,
            cue.get("id"),
            self.attempts,
            self.last_error,
        )

    def status(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": "webhook",
            "queued": len(self._queue),
            "delivered": self.delivered,
            "retries": self.retries,
            "failed": self.failed,
            "dropped": self.dropped,
            "last_error": self.last_error,
        }


def _body(show_id: str, cue: bytes, aired_at: float) -> bytes:
    value: dict[str, Any] = json.loads(cue)
    value = {"show": show_id, **value, "aired_at": round(aired_at, 3)}
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
