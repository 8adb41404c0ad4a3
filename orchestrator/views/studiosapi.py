"""The crew's hold on studios: kick one, reissue its link, show the link as a QR code."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from aiohttp import web

from orchestrator.answers import JoinLink, Kicked
from orchestrator.bodies import EmptyBody
from orchestrator.errors import NotFound
from orchestrator.views.api import show_links
from orchestrator.views.common import answer, body, operator_name, show_runner


def _link(request: web.Request, studio: str) -> JoinLink:
    runner = show_runner(request)
    for link in show_links(request, runner):
        if link.studio == studio:
            return link
    raise NotFound(f"show {runner.show.id!r} has no studio {studio!r}")


async def kick(request: web.Request) -> web.Response:
    """End the studio's session and void its link: a kicked host cannot rejoin by itself."""
    actor = operator_name(request)
    studio = request.match_info["studio"]
    await body(request, EmptyBody)
    generation = await show_runner(request).revoke_link(studio, actor, "studio.kicked")
    return answer(Kicked(studio=studio, kicked=True, link_generation=generation))


async def reissue(request: web.Request) -> web.Response:
    """A new join link; the old one stops working at once."""
    actor = operator_name(request)
    studio = request.match_info["studio"]
    await body(request, EmptyBody)
    await show_runner(request).revoke_link(studio, actor, "link.reissued")
    return answer(_link(request, studio))


async def qr(request: web.Request) -> web.Response:
    operator_name(request)
    link = _link(request, request.match_info["studio"])
    image = qrcode.make(link.join_url, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    out = io.BytesIO()
    image.save(out)
    return web.Response(body=out.getvalue(), content_type="image/svg+xml", headers={"Cache-Control": "no-store"})
