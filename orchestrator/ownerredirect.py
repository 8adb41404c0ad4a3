"""Any node answers: a request for a show another node runs is sent there.

A path naming a show (``{show}``, or a join token's show for ``/join/{token}`` and
``/host/{token}/ws``) that this node does not run gets ``307 Temporary Redirect`` to the same
path on the owner's ``public_url``: method and body are kept (RFC 9110 15.4.8), which WHIP
allows for its POST (RFC 9725 4.5), and browsers, FFmpeg and HLS players follow it. While no
node runs the show (a take-over in progress) the answer is ``503`` with ``Retry-After: 1``.
HLS is the exception when the nodes share ``data_dir``: any node serves it from there
(:func:`shared_hls_dir`), so a player or CDN keeps one URL across a take-over.

Browsers are relayed instead (:mod:`orchestrator.relay`: WebSockets cannot follow a redirect,
and ``fetch`` drops credentials on one), so the control and join pages work from any node and
through a take-over; endless streams (FLV, MJPEG) are redirected for them too. Only with a cluster
(``server.cluster``); otherwise every node runs every show and this does nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from mixer.outputs.hlsoutput import PLAYLIST_NAME
from orchestrator import relay
from orchestrator.appkeys import CLUSTER, CONFIG, SHOWS, TOKENS
from orchestrator.errors import Unavailable
from rooms.jointoken import TokenError

HLS_ROUTE = "/live/{show}/{name}"
# Endless answers: redirected even for browsers (a relay would hold them through this node).
STREAMS = frozenset({"/live/{show}.flv", "/api/shows/{show}/multiview/{source}.mjpg", HLS_ROUTE})


def shared_hls_dir(app: web.Application, show_id: str) -> Path | None:
    """The HLS directory of a show another node runs, if this node sees it live (``data_dir``
    shared between the nodes): its playlist written within three segments plus two leases (a
    take-over's gap). Then any node serves the show's HLS itself, across a take-over too."""
    config = app[CONFIG]
    found = config.program(show_id)  # a show's id, or one of its programs' ({show}-portrait)
    if found is None or not found[0].outputs.hls:
        return None
    show = found[0]
    directory = Path(config.server.data_dir) / "live" / show_id
    try:
        age = time.time() - (directory / PLAYLIST_NAME).stat().st_mtime
    except OSError:
        return None
    fresh = 3 * show.outputs.hls_segment_seconds + 2 * config.server.lease_seconds
    return directory if age < fresh else None


def _show_of(request: web.Request) -> str | None:
    info = request.match_info
    if "show" in info:  # a show, or one of its programs ({show}-portrait)
        found = request.app[CONFIG].program(info["show"])
        return found[0].id if found is not None else info["show"]
    if "token" in info:
        try:
            return request.app[TOKENS].verify(info["token"]).show
        except TokenError:
            return None  # the view refuses it with its own message
    return None


@web.middleware
async def owner_redirect(request: web.Request, handler: Handler) -> web.StreamResponse:
    cluster = request.app.get(CLUSTER)
    show = _show_of(request) if cluster is not None else None
    if cluster is None or show is None or show in request.app[SHOWS] or request.app[CONFIG].show(show) is None:
        return await handler(request)
    resource = request.match_info.route.resource
    if resource is not None and resource.canonical == HLS_ROUTE and shared_hls_dir(request.app, show) is not None:
        return await handler(request)  # served here from the shared directory (views/live.py)
    url = cluster.owner_url(show)
    if url is None:
        raise Unavailable(f"show {show!r} is moving between nodes; retry in a second", {"Retry-After": "1"})
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await relay.websocket(request, url)
    streaming = resource is not None and resource.canonical in STREAMS
    if "Sec-Fetch-Dest" in request.headers and not streaming:  # a browser: see orchestrator/relay.py
        return await relay.http(request, url)
    return web.Response(
        status=307, headers={"Location": url + request.path_qs, "Cache-Control": "no-store"}, text=f"see {url}\n"
    )
