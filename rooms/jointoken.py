"""Signed join tokens: scoped to one show and studio, expiring.

Format: ``base64url(json payload) "." base64url(HMAC-SHA256(secret, payload))``.
No external JWT library: the token only ever travels between our own links
and our own server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass


class TokenError(Exception):
    """The token is malformed, forged or expired; the message says which."""


@dataclass(frozen=True)
class JoinGrant:
    show: str
    studio: str
    expires: int
    generation: int = 0  # must match the studio's current link generation (see reissue)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class JoinTokens:
    def __init__(self, secret: str, ttl_seconds: float) -> None:
        self._key = secret.encode("utf-8")
        self._ttl = ttl_seconds

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()

    def mint(
        self,
        show: str,
        studio: str,
        ttl_seconds: float | None = None,
        now: float | None = None,
        generation: int = 0,
    ) -> str:
        now = time.time() if now is None else now
        expires = int(now + (self._ttl if ttl_seconds is None else ttl_seconds))
        claims: dict[str, object] = {"show": show, "studio": studio, "exp": expires}
        if generation:
            claims["g"] = generation
        body = json.dumps(claims, separators=(",", ":")).encode()
        return f"{_b64(body)}.{_b64(self._sign(body))}"

    def verify(self, token: str, now: float | None = None) -> JoinGrant:
        try:
            body_part, sig_part = token.split(".")
            body, sig = _unb64(body_part), _unb64(sig_part)
        except ValueError:
            raise TokenError("malformed token") from None
        if not hmac.compare_digest(sig, self._sign(body)):
            raise TokenError("token signature is not valid")
        try:
            claims = json.loads(body)
            grant = JoinGrant(str(claims["show"]), str(claims["studio"]), int(claims["exp"]), int(claims.get("g", 0)))
        except (ValueError, KeyError, TypeError):
            raise TokenError("malformed token") from None
        if grant.expires < (time.time() if now is None else now):
            raise TokenError("token has expired")
        return grant
