"""The server section (``[server]``): listening, operators, secrets, store, ICE media, cluster."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from typing import Annotated

from pydantic.dataclasses import dataclass

from orchestrator.config.problems import STRICT, ConfigError, check
from orchestrator.fields import ID_RE, VIDEO_CODECS, Flag, InRange, Integer, Number, OneOf, Text
from orchestrator.passwords import hash_problem


@dataclass(frozen=True, config=STRICT)
class IceServer:
    """A STUN or TURN server offered to studios (WHIP Link header) and used by our ICE agent."""

    urls: Text
    username: Text = ""
    credential: Text = ""


@dataclass(frozen=True, config=STRICT)
class Operator:
    """A person at the control page: ``director``, ``producer`` or ``links`` (orchestrator/operators.py).

    ``password_hash`` comes from ``broadcast hash-password``; a plaintext ``password`` still
    works but is deprecated (a warning at start-up). ``shows``: only these shows (empty: all).
    """

    name: Text
    role: Text = "producer"
    token: Text = ""
    password: Text = ""
    password_hash: Text = ""
    shows: tuple[Text, ...] = ()


@dataclass(frozen=True, config=STRICT)
class Server:
    """This node: where it listens, who may operate it, its store and media settings."""

    listen_host: Text = "127.0.0.1"
    listen_port: Integer = 8080
    operator_token: Text = ""  # the director's API token (operator "director")
    operators: tuple[Operator, ...] = ()
    link_secret: Text = ""
    link_ttl_hours: Annotated[Number, InRange(0.1, 8760, "hours")] = 24.0  # six minutes to a year
    ice_hosts: tuple[Text, ...] = ()
    redis_url: Text = ""
    data_dir: Text = "var"
    max_body_bytes: Annotated[Integer, InRange(4096, 2**30, "bytes")] = 64 * 1024
    video_codec: Annotated[Text, OneOf(VIDEO_CODECS)] = "h264"  # H.264 decodes in half the time of VP8
    ice_servers: tuple[IceServer, ...] = ()
    ice_public_address: Text = ""  # 1:1 NAT: the public IP that maps to our host address
    ice_port_min: Integer = 0  # UDP ports for media; 0/0 = any port the OS picks
    ice_port_max: Integer = 0
    ingest_start_kbps: Integer = 1500  # bitrate hints to browsers so 720p starts at 720p
    ingest_min_kbps: Integer = 600
    tls_cert: Text = ""  # PEM files: both set = serve HTTPS (needed for cameras on any host but localhost)
    tls_key: Text = ""
    # A cluster (orchestrator/cluster.py; needs redis_url): each show runs on one node. Off: every
    # node runs every show. This node's id, the URL other nodes redirect to for the shows it runs,
    # and how long a show's lease lasts without renewal (longer than a Redis fail-over).
    cluster: Flag = False
    node_id: Text = ""  # empty: hostname-port
    public_url: Text = ""  # empty: http(s)://listen_host:listen_port
    lease_seconds: Annotated[Number, InRange(1, 60, "seconds")] = 3.0  # a take-over waits this long
    # RTMP studio ingest (orchestrator/rtmpingest.py): "host:port" to listen on, e.g. "127.0.0.1:1935"
    # ("0.0.0.0:1935" for encoders on other machines). Empty: off.
    rtmp_ingest: Text = ""


def check_server(srv: Server, show_ids: Collection[str], src: str) -> None:
    """What the types cannot say about ``[server]``; ``show_ids``: the shows an operator may be
    limited to. Raises ConfigError for the first problem."""
    check(0 < srv.listen_port < 65536, src, "server.listen_port", "must be 1-65535")
    check(
        not _is_listen_address(srv.rtmp_ingest, srv),
        src,
        "server.rtmp_ingest",
        f"{srv.rtmp_ingest!r} is the HTTP listen address (server.listen_port): give it a port of its own",
    )
    check(len(srv.operator_token) >= 8, src, "server.operator_token", "must be at least 8 characters")
    check(len(srv.link_secret) >= 16, src, "server.link_secret", "must be at least 16 characters")
    _check_operators(srv.operators, show_ids, src)
    for i, host in enumerate(srv.ice_hosts):
        _check_ip(host, src, f"server.ice_hosts[{i}]")
    _check_media(srv, src)
    check(
        not srv.node_id or bool(ID_RE.match(srv.node_id)),
        src,
        "server.node_id",
        "must be lowercase letters, digits, '-'",
    )
    check(
        not srv.public_url or srv.public_url.startswith(("http://", "https://")),
        src,
        "server.public_url",
        "must start with http:// or https://",
    )
    problem = redis_url_problem(srv.redis_url) if srv.redis_url else None
    check(problem is None, src, "server.redis_url", str(problem))
    for name in ("data_dir", "tls_cert", "tls_key"):
        check("\0" not in getattr(srv, name), src, f"server.{name}", "must not contain a NUL character")


def _check_operators(operators: tuple[Operator, ...], show_ids: Collection[str], src: str) -> None:
    names = {"director"}
    for i, op in enumerate(operators):
        key = f"server.operators[{i}]"
        check(bool(op.name) and op.name not in names, src, f"{key}.name", "missing or duplicate operator name")
        names.add(op.name)
        check(op.role in ("director", "producer", "links"), src, f"{key}.role", "must be director, producer or links")
        check(
            len(op.token) >= 8 or len(op.password) >= 8 or bool(op.password_hash),
            src,
            key,
            "needs a token, password_hash or password of 8+ characters",
        )
        check(not (op.password and op.password_hash), src, f"{key}.password", "password_hash or password, not both")
        problem = hash_problem(op.password_hash) if op.password_hash else None
        check(problem is None, src, f"{key}.password_hash", str(problem))
        for j, show_id in enumerate(op.shows):
            check(show_id in show_ids, src, f"{key}.shows[{j}]", f"{show_id!r} is not a show")


def _check_media(srv: Server, src: str) -> None:
    """WHIP media settings: ICE servers (RFC 7064/7065 URIs) and address, ports, bitrate hints, TLS."""
    from aiortc.rtcicetransport import parse_stun_turn_uri

    for i, ice in enumerate(srv.ice_servers):
        key = f"server.ice_servers[{i}]"
        check(
            ice.urls.startswith(("stun:", "turn:", "turns:")),
            src,
            f"{key}.urls",
            f"{ice.urls!r} must start with stun:, turn: or turns:",
        )
        try:
            if any(c.isspace() for c in ice.urls):
                raise ValueError("malformed uri: spaces")
            port = parse_stun_turn_uri(ice.urls)["port"]
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"{src}: {key}.urls: {ice.urls!r}: {exc} (RFC 7064/7065)") from None
        check(1 <= port <= 65535, src, f"{key}.urls", f"port {port} must be 1-65535")
        check(
            not ice.urls.startswith("turn") or bool(ice.username and ice.credential),
            src,
            key,
            "a TURN server needs username and credential",
        )
    if srv.ice_public_address:
        _check_ip(srv.ice_public_address, src, "server.ice_public_address")
    if srv.ice_port_min or srv.ice_port_max:
        check(
            1024 <= srv.ice_port_min <= srv.ice_port_max <= 65535,
            src,
            "server.ice_port_min",
            "ice_port_min and ice_port_max must be 1024-65535 with min <= max (or both 0)",
        )
    check(
        50 <= srv.ingest_min_kbps <= srv.ingest_start_kbps <= 20_000,
        src,
        "server.ingest_start_kbps",
        "need 50 <= ingest_min_kbps <= ingest_start_kbps <= 20000",
    )
    check(bool(srv.tls_cert) == bool(srv.tls_key), src, "server.tls_key", "tls_cert and tls_key go together")


def _check_ip(address: str, src: str, key: str) -> None:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError(f"{src}: {key}: {address!r} is not an IP address") from None


_ANY_HOST = ("", "0.0.0.0", "::")


def _is_listen_address(address: str, srv: Server) -> bool:
    """Whether ``host:port`` would bind over the HTTP listener (same port, overlapping hosts)."""
    host, _, port = address.strip().rpartition(":")
    host = host.strip("[]")
    return (
        port.isdigit()
        and int(port) == srv.listen_port
        and (host == srv.listen_host or host in _ANY_HOST or srv.listen_host in _ANY_HOST)
    )


def redis_url_problem(url: str) -> str | None:
    """Why ``url`` cannot reach Redis (scheme, host, port 1-65535, database number), or None."""
    from urllib.parse import urlsplit

    from orchestrator.sentinelurl import SCHEME, parse_sentinel_url

    if url.startswith(SCHEME):
        try:
            parse_sentinel_url(url)
        except ValueError as exc:
            return str(exc)
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"{url!r}: bad port or not a URL ({exc})"
    if parts.scheme == "unix":
        return None if parts.path else "unix:// needs a socket path"
    if parts.scheme not in ("redis", "rediss"):
        return "must start with redis://, rediss://, unix:// or redis+sentinel://"
    if port is not None and not 1 <= port <= 65535:
        return f"port {port} must be 1-65535"
    db = parts.path.strip("/")
    if db and not (db.isdigit() and int(db) < 2**31):
        return f"database {db!r} must be a number"
    return None
