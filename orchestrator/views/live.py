"""What a CDN pulls: the HLS playlist and segments, and HTTP-FLV."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from mixer.outputs.flvoutput import FlvOutput
from mixer.outputs.hlsoutput import PLAYLIST_NAME, SEGMENT_NAME_RE
from orchestrator.appkeys import SHOWS
from orchestrator.errors import NotFound
from orchestrator.ownerredirect import shared_hls_dir
from orchestrator.views.common import program_outputs

PLAYLIST_CONTENT_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_CONTENT_TYPE = "video/mp2t"
_CORS = {"Access-Control-Allow-Origin": "*"}


def hls_file_response(directory: Path, name: str) -> web.FileResponse:
    """Serve the playlist or one segment of an HLS directory; 404 for any other name.

    ``FileResponse`` brings Range, ETag/Last-Modified, conditional GET and HEAD.
    The playlist is short-lived (max-age=1); a segment never changes once
    listed (its name is unique across restarts), so it is cacheable for an hour.
    """
    if name == PLAYLIST_NAME:
        headers = {"Content-Type": PLAYLIST_CONTENT_TYPE, "Cache-Control": "max-age=1", **_CORS}
    elif SEGMENT_NAME_RE.fullmatch(name):
        headers = {"Content-Type": SEGMENT_CONTENT_TYPE, "Cache-Control": "max-age=3600, immutable", **_CORS}
    else:
        raise web.HTTPNotFound(headers={"Cache-Control": "no-cache", **_CORS})
    path = directory / name
    if not path.is_file():
        raise web.HTTPNotFound(headers={"Cache-Control": "no-cache", **_CORS})
    return web.FileResponse(path, headers=headers)


async def stream_flv(request: web.Request, output: FlvOutput) -> web.StreamResponse:
    """Serve ``output`` as an endless HTTP-FLV body until the client leaves or the output ends.

    A stalled client is noticed once the kernel send buffer (Linux autotunes it
    up to ~4 MB) and then the reader backlog are full; it is then aborted.
    """
    response = web.StreamResponse(
        headers={
            "Content-Type": "video/x-flv",
            "Cache-Control": "no-cache, no-store",
            "Pragma": "no-cache",
            "Access-Control-Allow-Origin": "*",
        }
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    transport = request.transport

    def abort() -> None:
        # Dropped for being slow: the handler may be parked in drain(); abort wakes it.
        if transport is not None:
            transport.abort()

    reader = output.subscribe(on_drop=abort)
    try:
        async for chunk in reader:
            await response.write(chunk)
        if not reader.dropped:
            await response.write_eof()
    except ConnectionError:  # client went away (aiohttp's ClientConnectionResetError included)
        pass
    finally:
        reader.close()
    return response


async def hls(request: web.Request) -> web.StreamResponse:
    name = request.match_info["show"]
    if name not in request.app[SHOWS]:
        # A program removed moments ago: its ended playlist (orchestrator/showprograms.py).
        for runner in request.app[SHOWS].values():
            ended = runner.programs.ended_hls_dir(name)
            if ended is not None:
                return hls_file_response(ended, request.match_info["name"])
        shared = shared_hls_dir(request.app, name)  # a cluster's shared data_dir
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
