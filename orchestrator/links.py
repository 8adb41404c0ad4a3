"""Join links for every studio of every show (CLI `links` and the API)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from orchestrator.config import Config
from orchestrator.operators import Credential, Operators, Role
from rooms.jointoken import JoinTokens

log = logging.getLogger(__name__)


def operators_for(config: Config) -> Operators:
    """The config's operators: the ``operator_token`` director and ``server.operators``."""
    creds = [Credential("director", Role.DIRECTOR, token=config.server.operator_token)]
    for i, o in enumerate(config.server.operators):
        if o.password:
            log.warning(
                "%s: server.operators[%d].password: a plaintext password is deprecated; store "
                "`password_hash` instead (make one with `broadcast hash-password`)",
                config.source,
                i,
            )
        creds.append(Credential(o.name, Role(o.role), o.token, o.password, o.password_hash, o.shows))
    return Operators(tuple(creds))


def tokens_for(config: Config) -> JoinTokens:
    return JoinTokens(config.server.link_secret, config.server.link_ttl_hours * 3600)


def join_links(
    config: Config, base_url: str, generations: dict[str, dict[str, int]] | None = None, rtmp_port: int | None = None
) -> list[dict[str, str]]:
    """One link per studio; ``generations`` (show -> studio -> n) after links were reissued;
    ``rtmp_port``: the RTMP ingest's bound port (default: the configured one)."""
    tokens = tokens_for(config)
    base = base_url.rstrip("/")
    out = []
    for show in config.shows:
        for studio in show.studios:
            gen = (generations or {}).get(show.id, {}).get(studio.id, 0)
            token = tokens.mint(show.id, studio.id, generation=gen)
            out.append(
                {
                    "show": show.id,
                    "studio": studio.id,
                    "name": studio.name,
                    "token": token,
                    "join_url": f"{base}/join/{token}",
                    "whip_url": f"{base}/whip/{show.id}/{studio.id}",
                    **rtmp_links(config, base, show.id, studio.id, token, rtmp_port),
                }
            )
    return out


def rtmp_links(
    config: Config, base_url: str, show: str, studio: str, token: str, port: int | None = None
) -> dict[str, str]:
    """Where a studio's RTMP encoder publishes (only with ``server.rtmp_ingest``): one URL with the
    token (FFmpeg), or a server URL and the token as the stream key (OBS and hardware encoders)."""
    if not config.server.rtmp_ingest:
        return {}
    port = port or int(config.server.rtmp_ingest.rpartition(":")[2])
    host = urlsplit(base_url).hostname or "127.0.0.1"
    server = f"rtmp://{host}:{port}/live/{show}/{studio}"
    return {"rtmp_url": f"{server}?token={token}", "rtmp_server": server, "rtmp_key": token}
