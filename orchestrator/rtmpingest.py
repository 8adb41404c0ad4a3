"""RTMP studio ingest wired to the shows: who may publish (join tokens) and the server's life.

With ``server.rtmp_ingest = "host:port"`` the app runs a :class:`rooms.rtmpserver.RtmpServer`.
A studio's encoder publishes with its join token, either in the URL
(``rtmp://host:1935/live/{show}/{studio}?token={token}``, FFmpeg) or as the stream key (server
``rtmp://host:1935/live/{show}/{studio}``, key ``{token}``: OBS, hardware encoders). The token is
checked like a WHIP Bearer token (signature, expiry, link generation: a reissued or kicked link
is refused), at ``connect`` when the URL carries it, else at ``publish``, before any media.
In a cluster, only the node running the show accepts its RTMP studios (RTMP has no redirect
that encoders follow): the refusal names the node to use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs

from aiohttp import web

from orchestrator.appkeys import CLUSTER, CONFIG, RTMP_INGEST
from orchestrator.config import Config, ConfigError
from orchestrator.errors import DomainError, NotFound
from orchestrator.joingrant import verify_join
from orchestrator.showrunner import ShowRunner
from rooms.rtmpserver import Refused, RtmpServer
from rooms.rtmpstudio import RtmpStudio


def ingest_address(config: Config) -> tuple[str, int] | None:
    """``server.rtmp_ingest`` as (host, port); None when off; ConfigError (one line) if malformed."""
    value = config.server.rtmp_ingest.strip()
    if not value:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{config.source}: server.rtmp_ingest: {value!r} is not host:port (e.g. 127.0.0.1:1935)")
    return host.strip("[]"), int(port)


def split_path(path: str) -> tuple[list[str], str]:
    """``{app}/{stream name}`` -> (the path's segments without ``live``, the token)."""
    base, _, query = path.partition("?")
    segments = [s for s in base.split("/") if s]
    tokens = parse_qs(query).get("token")
    token = tokens[0] if tokens else (segments.pop() if segments else "")  # ?token=, or the stream key
    if segments and segments[0] == "live":
        segments = segments[1:]
    return segments, token


class ShowGate:
    """The RTMP server's :class:`rooms.rtmpserver.Gate` over this app's shows and join tokens."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def _grant(self, path: str) -> tuple[ShowRunner, str]:
        segments, token = split_path(path)
        if not token:
            raise Refused("no join token: publish to rtmp://HOST:PORT/live/SHOW/STUDIO?token=TOKEN")
        try:
            runner, grant = verify_join(self.app, token)
        except NotFound as exc:
            cluster = self.app.get(CLUSTER)
            url = cluster.owner_url(segments[0]) if cluster is not None and segments else None
            raise Refused(f"{exc}: this show runs on {url}" if url else str(exc)) from None
        except DomainError as exc:
            raise Refused(str(exc)) from None
        if segments and segments[:2] != [grant.show, grant.studio][: len(segments[:2])]:
            raise Refused(f"this token is for {grant.show}/{grant.studio}, not {'/'.join(segments[:2])}")
        return runner, grant.studio

    def check(self, path: str) -> None:
        self._grant(path)

    async def open(self, path: str, peer: str) -> RtmpStudio:
        runner, studio = self._grant(path)
        return await runner.publish_rtmp(studio, peer)


async def rtmp_ingest_ctx(app: web.Application) -> AsyncIterator[None]:
    """The RTMP server, after the shows (it publishes into them) and closed before them."""
    address = ingest_address(app[CONFIG])
    if address is None:
        yield
        return
    server = app[RTMP_INGEST] = RtmpServer(address[0], address[1], ShowGate(app))
    await server.start()
    yield
    await server.close()
