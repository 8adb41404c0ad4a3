"""The aiohttp application factory: every resource opened in a cleanup context."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from aiortc import RTCIceServer

from orchestrator import openapi
from orchestrator.appkeys import (
    CLUSTER,
    CONFIG,
    INGEST,
    METRICS,
    OPENAPI,
    OPERATORS,
    SESSIONS,
    SHOWS,
    STORE,
    THROTTLE,
    TOKENS,
)  # fmt: skip
from orchestrator.cluster import Cluster
from orchestrator.config import Config, ConfigError, Show
from orchestrator.links import operators_for, tokens_for
from orchestrator.loginthrottle import LoginThrottle
from orchestrator.memorystore import MemoryStore
from orchestrator.metrics import metrics_registry
from orchestrator.middleware import access, errors
from orchestrator.ownerredirect import owner_redirect
from orchestrator.redisstore import RedisStore
from orchestrator.routes import ENDPOINTS, routes
from orchestrator.rtmpingest import ingest_address, rtmp_ingest_ctx
from orchestrator.sessions import Sessions
from orchestrator.showrunner import ShowRunner
from orchestrator.store import StateStore
from orchestrator.views import control, hostapi
from orchestrator.views.answer import error_answer
from rooms import compat
from rooms.compat import aiohttpweb
from rooms.ingestmessages import WorkerSettings
from rooms.ingestpool import IngestPool, worker_count
from rooms.udpsocket import size_receive_buffers
from rooms.whipsession import WhipOptions

log = logging.getLogger(__name__)


def make_store(config: Config) -> StateStore:
    if config.server.redis_url:
        return RedisStore(config.server.redis_url)
    return MemoryStore()


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    app[STORE] = make_store(app[CONFIG])
    yield
    closing = asyncio.ensure_future(app[STORE].close())
    await asyncio.wait({closing}, timeout=2)  # an unreachable Redis must not hang the shutdown


async def _ingest_ctx(app: web.Application) -> AsyncIterator[None]:
    """Studio ingest in worker processes (``ingest.workers``; 0: in this process, no pool)."""
    config = app[CONFIG]
    count = worker_count(config.ingest.workers)
    if count == 0:
        yield
        return
    srv = config.server
    settings = WorkerSettings(srv.ice_hosts, srv.ice_port_min, srv.ice_port_max, logging.getLogger().level)
    pool = app[INGEST] = IngestPool(count, settings)
    await pool.start()
    yield
    await pool.close()


async def _shows_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    data_dir = Path(config.server.data_dir)

    def make_runner(show_id: str) -> ShowRunner:
        show = config.show(show_id)
        assert show is not None
        return ShowRunner(show, app[STORE], data_dir, whip_options(config, show), app.get(INGEST))

    store = app[STORE]
    if isinstance(store, RedisStore) and config.server.cluster:
        # A cluster: this node runs the shows whose lease it holds (orchestrator/cluster.py).
        app[SHOWS] = {}
        cluster = app[CLUSTER] = Cluster(config, store, app[SHOWS], make_runner)
        await cluster.start()
        yield
        await cluster.stop()
        return
    if config.server.cluster:
        log.warning("server.cluster needs server.redis_url (or --redis): this node runs every show")
    runners = {show.id: make_runner(show.id) for show in config.shows}
    app[SHOWS] = runners
    for runner in runners.values():
        await runner.start()
    yield
    for runner in runners.values():
        await runner.stop()


def whip_options(config: Config, show: Show) -> WhipOptions:
    srv = config.server
    return WhipOptions(
        video_codec=show.video_codec or srv.video_codec,
        ice_servers=tuple(RTCIceServer(s.urls, s.username or None, s.credential or None) for s in srv.ice_servers),
        public_address=srv.ice_public_address,
        start_kbps=srv.ingest_start_kbps,
        min_kbps=srv.ingest_min_kbps,
    )


def ssl_context(config: Config) -> ssl.SSLContext | None:
    """HTTPS when the config names a certificate: browsers allow cameras only on secure origins."""
    srv = config.server
    if not srv.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(srv.tls_cert, srv.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{config.source}: server.tls_cert/tls_key: cannot load: {exc}") from None
    return context


def create_app(config: Config) -> web.Application:
    compat.install()  # aioice and aiortc patches, once per process (rooms/compat/)
    aiohttpweb.install(error_answer)  # the HTTP parser's refusals as JSON 400s, without a traceback
    compat.offer_host_addresses(config.server.ice_hosts)
    compat.use_port_range(config.server.ice_port_min, config.server.ice_port_max)
    size_receive_buffers()  # studios' UDP sockets: room for bursts (rooms/udpsocket.py)
    app = web.Application(middlewares=[errors, owner_redirect, access], client_max_size=config.server.max_body_bytes)
    app[CONFIG] = config
    app[TOKENS] = tokens_for(config)
    app[OPERATORS] = operators_for(config)
    app[SESSIONS] = Sessions(config.server.link_secret)
    app[THROTTLE] = LoginThrottle()
    app[METRICS] = metrics_registry(app)
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_ingest_ctx)  # before the shows: stopped after their sessions closed
    app.cleanup_ctx.append(_shows_ctx)
    ingest_address(config)  # a malformed address is one line at start-up, not a traceback later
    app.cleanup_ctx.append(rtmp_ingest_ctx)
    app.add_routes(routes)
    app[OPENAPI] = openapi.document(ENDPOINTS)
    hostapi.setup(app)
    control.setup(app)
    return app
