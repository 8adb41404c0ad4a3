"""The server's listening ports, taken before anything starts.

A port already in use (another server, an old one still running) is one line at start-up,
``broadcast: cannot start: show.toml: server.listen_port: 127.0.0.1:8080 is in use``, and
the process exits non-zero before any show starts: no output writes into ``data_dir``
(HLS sequence numbers would move on for nothing) and no encoder starts. The HTTP socket is
bound here and handed to aiohttp (no gap for another process to take it); the RTMP ingest
port (``server.rtmp_ingest``, bound by ``rooms/rtmpserver.py`` when the app starts) is
checked free the same way.
"""

from __future__ import annotations

import errno
import socket

from orchestrator.config import Config
from orchestrator.rtmpingest import ingest_address

__all__ = ["StartupError", "bind_http"]


class StartupError(Exception):
    """The server cannot start as configured (one line: ``file: key: problem``)."""


def _bind(host: str, port: int, source: str, key: str) -> socket.socket:
    """A TCP socket bound to ``host:port`` (listening is left to its user); StartupError if it cannot be."""
    where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as exc:
        raise StartupError(f"{source}: {key}: cannot resolve {host!r} ({exc})") from None
    sock = socket.socket(family, kind, proto)
    try:
        # As aiohttp's own sites: a restart may bind over connections in TIME_WAIT, never over a listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        problem = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror or exc})"
        raise StartupError(f"{source}: {key}: {where} {problem}") from None
    return sock


def bind_http(config: Config) -> socket.socket:
    """The HTTP socket, bound (for ``web.run_app(sock=...)``), after checking the RTMP ingest port
    is free too; StartupError (one line) if either is taken or cannot be bound."""
    srv = config.server
    ingest = ingest_address(config)
    http = _bind(srv.listen_host, srv.listen_port, config.source, "server.listen_port")
    if ingest is not None:
        try:
            _bind(*ingest, config.source, "server.rtmp_ingest").close()
        except StartupError:
            http.close()
            raise
    return http
