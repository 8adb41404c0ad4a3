"""Liveness and Prometheus metrics (no auth: scraped from inside the network)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from orchestrator.answers import Health
from orchestrator.appkeys import METRICS, SHOWS
from orchestrator.views.common import answer


async def healthz(request: web.Request) -> web.Response:
    shows = {}
    healthy = True
    for show_id, runner in request.app[SHOWS].items():
        stats = runner.program.stats()
        shows[show_id] = {
            "ticks": stats["ticks"],
            "fps": stats["fps"],
            "output_fps": stats["output_fps"],
            "on_air": stats["on_air"],
        }
        healthy &= runner.program.running
    return answer(Health(status="ok" if healthy else "degraded", shows=shows), status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    """The app's registry (orchestrator/metrics.py) in the format the scraper asks for (``Accept``)."""
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encode(request.app[METRICS]), headers={"Content-Type": content_type})
