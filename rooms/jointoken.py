"""Signed join tokens: scoped to one show and studio (and link generation), expiring.

Signed with itsdangerous' ``Signer`` (HMAC-SHA256 over a key derived from the link secret
and the salt ``join-token``, so no other signature of ours, such as an operator session,
ever passes as a join token). Format: ``base64url(json claims) "." base64url(signature)``,
never compressed, so a link stays one readable shape; the claims are ``show``, ``studio``,
``exp`` (unix time) and ``g``, the link generation (absent = 0).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, Signer


class TokenError(Exception):
    """The token is malformed, forged or expired; the message says which."""


@dataclass(frozen=True)
class JoinGrant:
    show: str
    studio: str
    expires: int
    generation: int = 0  # must match the studio's current link generation (see reissue)


class JoinTokens:
    def __init__(self, secret: str, ttl_seconds: float) -> None:
        self._signer = Signer(secret, salt="join-token", digest_method=hashlib.sha256)
        self._ttl = ttl_seconds

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
        body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=")
        return self._signer.sign(body).decode("ascii")

    def verify(self, token: str, now: float | None = None) -> JoinGrant:
        """The grant a token carries; raises TokenError (malformed, bad signature, expired)."""
        if token.count(".") != 1:
            raise TokenError("malformed token")
        try:
            body = self._signer.unsign(token.encode("utf-8", "replace"))
        except BadSignature:
            raise TokenError("token signature is not valid") from None
        try:
            claims = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
            grant = JoinGrant(str(claims["show"]), str(claims["studio"]), int(claims["exp"]), int(claims.get("g", 0)))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise TokenError("malformed token") from None
        if grant.expires < (time.time() if now is None else now):
            raise TokenError("token has expired")
        return grant
