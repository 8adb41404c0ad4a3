"""The aiohttp application factory: every resource opened in a cleanup context."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from orchestrator.appkeys import CONFIG, SHOWS, STORE, TOKENS
from orchestrator.config import Config
from orchestrator.links import tokens_for
from orchestrator.memorystore import MemoryStore
from orchestrator.middleware import errors
from orchestrator.routes import routes
from orchestrator.showrunner import ShowRunner
from orchestrator.store import StateStore
from rooms.ice import offer_host_addresses

log = logging.getLogger(__name__)


def make_store(config: Config) -> StateStore:
    if config.server.redis_url:
        from orchestrator.redisstore import RedisStore

        return RedisStore(config.server.redis_url)
    return MemoryStore()


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    app[STORE] = make_store(app[CONFIG])
    yield
    await app[STORE].close()


async def _shows_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    data_dir = Path(config.server.data_dir)
    runners = {show.id: ShowRunner(show, app[STORE], data_dir) for show in config.shows}
    app[SHOWS] = runners
    for runner in runners.values():
        await runner.start()
    yield
    for runner in runners.values():
        await runner.stop()


def create_app(config: Config) -> web.Application:
    offer_host_addresses(config.server.ice_hosts)
    app = web.Application(middlewares=[errors], client_max_size=config.server.max_body_bytes)
    app[CONFIG] = config
    app[TOKENS] = tokens_for(config)
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_shows_ctx)
    app.add_routes(routes)
    return app
