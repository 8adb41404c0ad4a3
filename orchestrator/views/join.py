"""The district host's join page."""

from __future__ import annotations

import html
import json
from pathlib import Path

from aiohttp import web

from orchestrator.appkeys import CONFIG
from orchestrator.errors import DomainError
from orchestrator.joingrant import verify_join

STATIC = Path(__file__).resolve().parent.parent / "static"


def _refused(reason: str) -> web.Response:
    body = (
        "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        "<title>Link not valid · 链接无效</title><body style='font:18px sans-serif;padding:2em'>"
        "<h1>This join link is not valid · 此链接无效</h1>"
        f"<p>{html.escape(reason)}</p><p>Ask the production crew for a new link · 请联系导播获取新链接</p>"
    )
    return web.Response(status=403, text=body, content_type="text/html")


async def page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    try:
        runner, grant = verify_join(request.app, token)
    except DomainError as exc:
        return _refused(exc.message)
    show = runner.show
    studio = show.studio(grant.studio)
    assert studio is not None  # verify_join checked it
    ice_servers = [
        {"urls": s.urls, **({"username": s.username, "credential": s.credential} if s.username else {})}
        for s in request.app[CONFIG].server.ice_servers
    ]
    settings = {
        "token": token,
        "whip": f"/whip/{show.id}/{studio.id}",
        "ws": f"/host/{token}/ws",
        "return_feed": f"/return/{show.id}/{studio.id}",  # static/returnfeed.js
        "show": show.title,
        "studio": studio.name,
        "studio_en": studio.name_en,
        "place": studio.place,
        "ice_servers": ice_servers,
    }
    text = (STATIC / "join.html").read_text(encoding="utf-8")
    text = text.replace("/*SETTINGS*/null", json.dumps(settings, ensure_ascii=False).replace("</", "<\\/"))
    return web.Response(text=text, content_type="text/html", headers={"Cache-Control": "no-store"})
