"""The one route table."""

from __future__ import annotations

from aiohttp import web

from orchestrator.views import api, health, join, live, whip

routes = [
    web.get("/healthz", health.healthz),
    web.get("/metrics", health.metrics),
    web.get("/join/{token}", join.page),
    web.post("/whip/{show}/{studio}", whip.post),
    web.delete("/whip/{show}/{studio}/{session}", whip.delete),
    web.patch("/whip/{show}/{studio}/{session}", whip.patch),
    web.get(r"/live/{show}.flv", live.flv),
    web.get("/live/{show}/{name}", live.hls),
    web.get("/api/shows", api.list_shows),
    web.get("/api/shows/{show}", api.get_show),
    web.post("/api/shows/{show}/cut", api.cut),
    web.post("/api/shows/{show}/preview", api.preview),
    web.get("/api/shows/{show}/events", api.events),
    web.get("/api/shows/{show}/links", api.links),
]
