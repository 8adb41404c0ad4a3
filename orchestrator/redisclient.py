"""The Redis client the store, the leases and the node registry share: how it connects and the
options every caller relies on (a failure surfaces within one socket timeout; nothing is re-sent).

``url``: ``redis://``/``rediss://``/``unix://`` (redis-py's :meth:`~redis.asyncio.Redis.from_url`),
or ``redis+sentinel://`` for the master a set of sentinels names (``sentinelurl.py``; a fail-over
is followed: new connections ask the sentinels again).
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.maint_notifications import MaintNotificationsConfig

from orchestrator.sentinelurl import SCHEME, parse_sentinel_url


def connect(url: str, timeout: float) -> aioredis.Redis:
    """A client for ``url`` with ``timeout`` seconds to connect and per socket operation.

    Does not connect yet. Raises ValueError for a malformed URL (scheme, port, sentinel list).
    """
    return _client(
        url,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        socket_keepalive=True,
        # No silent re-sends: a retried RPUSH/EXEC could apply twice, and retries multiply
        # the time a caller waits when Redis is gone. The pool already replaces connections
        # that died while idle, so the first call after a Redis restart still works.
        retry=Retry(NoBackoff(), 0),
        # Redis Cloud maintenance hints are of no use here, and while they are on (the RESP3
        # default) the pool skips its check for connections that died while idle: the first
        # call after a Redis restart would then fail on a stale connection.
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
        # RESP2: with RESP3 and decode_responses, redis-py 8 drops a subscriber's PONG as if it
        # were a subscribe confirmation, so `watch` could not tell a live Redis from a dead one.
        protocol=2,
    )


def _client(url: str, **options: Any) -> aioredis.Redis:
    if not url.startswith(SCHEME):
        return aioredis.Redis.from_url(url, **options)
    target = parse_sentinel_url(url)
    timeouts = {
        "socket_timeout": options["socket_timeout"],
        "socket_connect_timeout": options["socket_connect_timeout"],
    }
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs={**timeouts, "protocol": 2}, **timeouts)
    return sentinel.master_for(target.service, db=target.db, **options)
