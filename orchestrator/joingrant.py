"""The one check of a host's join token: signature, expiry, show, studio, not revoked."""

from __future__ import annotations

from aiohttp import web

from orchestrator.appkeys import SHOWS, TOKENS
from orchestrator.errors import NotFound, Unauthorized
from orchestrator.showrunner import ShowRunner
from rooms.jointoken import JoinGrant, TokenError


def verify_join(app: web.Application, token: str) -> tuple[ShowRunner, JoinGrant]:
    try:
        grant = app[TOKENS].verify(token)
    except TokenError as exc:
        raise Unauthorized(f"join token refused: {exc}") from None
    runner = app[SHOWS].get(grant.show)
    if runner is None:
        raise NotFound(f"no show {grant.show!r} (any more)")
    if runner.show.studio(grant.studio) is None:
        raise NotFound(f"show {grant.show!r} has no studio {grant.studio!r} (any more)")
    if grant.generation != runner.link_generation(grant.studio):
        raise Unauthorized("join token refused: this link was replaced by a newer one")
    return runner, grant
