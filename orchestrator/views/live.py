"""What a CDN pulls: the HLS playlist and segments, and HTTP-FLV."""

from __future__ import annotations

from aiohttp import web

from mixer.outputs.flvoutput import stream_flv
from mixer.outputs.hlsoutput import hls_file_response
from orchestrator.appkeys import SHOWS
from orchestrator.errors import NotFound
from orchestrator.ownerredirect import shared_hls_dir
from orchestrator.views.common import program_outputs


async def hls(request: web.Request) -> web.StreamResponse:
    if request.match_info["show"] not in request.app[SHOWS]:
        shared = shared_hls_dir(request.app, request.match_info["show"])  # a cluster's shared data_dir
        if shared is not None:
            return hls_file_response(shared, request.match_info["name"])
    _, program = program_outputs(request)
    if program.hls is None:
        raise NotFound("HLS is not enabled for this show")
    return hls_file_response(program.hls_dir, request.match_info["name"])


async def flv(request: web.Request) -> web.StreamResponse:
    _, program = program_outputs(request)
    if program.flv is None:
        raise NotFound("HTTP-FLV is not enabled for this show")
    return await stream_flv(request, program.flv)
