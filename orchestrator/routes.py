"""The one route table."""

from __future__ import annotations

from aiohttp import web

from orchestrator.views import api, cardsapi, health, hostapi, join, live, mixerapi, outputsapi, whep, whip

routes = [
    web.get("/healthz", health.healthz),
    web.get("/metrics", health.metrics),
    web.get("/join/{token}", join.page),
    web.post("/whip/{show}/{studio}", whip.post),
    web.delete("/whip/{show}/{studio}/{session}", whip.delete),
    web.patch("/whip/{show}/{studio}/{session}", whip.patch),
    web.options("/whip/{show}/{studio}", whip.options),
    web.options("/whip/{show}/{studio}/{session}", whip.options),
    web.get("/host/{token}/ws", hostapi.host_socket),
    web.post("/api/shows/{show}/studios/{studio}/cue", hostapi.cue),
    web.get(r"/live/{show}.flv", live.flv),
    web.get("/live/{show}/{name}", live.hls),
    web.get("/api/shows", api.list_shows),
    web.get("/api/shows/{show}", api.get_show),
    web.post("/api/shows/{show}/cut", api.cut),
    web.post("/api/shows/{show}/preview", api.preview),
    web.get("/api/shows/{show}/events", api.events),
    web.get("/api/shows/{show}/links", api.links),
    web.post("/api/shows/{show}/take", mixerapi.take),
    web.post("/api/shows/{show}/layout", mixerapi.layout),
    web.post("/api/shows/{show}/panic", mixerapi.panic),
    web.post("/api/shows/{show}/unpanic", mixerapi.unpanic),
    web.post("/api/shows/{show}/audio/{studio}", mixerapi.audio),
    web.get("/api/shows/{show}/audio", mixerapi.meters),
    web.get("/api/shows/{show}/products", cardsapi.list_products),
    web.patch("/api/shows/{show}/products/{product}", cardsapi.update_product),
    web.post("/api/shows/{show}/cards", cardsapi.show_card),
    web.delete("/api/shows/{show}/cards/{slot}", cardsapi.hide_card),
    web.post("/api/shows/{show}/lower-third", cardsapi.show_lower_third),
    web.delete("/api/shows/{show}/lower-third", cardsapi.hide_lower_third),
    web.post("/api/shows/{show}/logo", cardsapi.set_logo),
    web.post("/whep/{show}", whep.post),
    web.options("/whep/{show}", whep.options),
    web.delete("/whep/{show}/{viewer}", whep.delete),
    web.patch("/whep/{show}/{viewer}", whep.patch),
    web.options("/whep/{show}/{viewer}", whep.options),
    web.get("/api/shows/{show}/outputs", outputsapi.outputs),
    web.get("/api/shows/{show}/outputs/rtmp", outputsapi.list_rtmp),
    web.post("/api/shows/{show}/outputs/rtmp", outputsapi.add_rtmp),
    web.delete("/api/shows/{show}/outputs/rtmp/{name}", outputsapi.remove_rtmp),
    web.get("/api/shows/{show}/recording", outputsapi.get_recording),
    web.post("/api/shows/{show}/recording", outputsapi.set_recording),
]
