"""Who is at the control page: operators, their roles, and signed session cookies.

Two roles: ``director`` may do everything; ``producer`` may read the show and
drive cards and cues, nothing that changes the picture source or the outputs.
Operators sign in with their token or password; the page then carries a signed,
expiring, HttpOnly session cookie. API tools keep using ``Authorization: Bearer``.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from aiohttp import web

from orchestrator.errors import Forbidden, Unauthorized

COOKIE = "broadcast_session"
SESSION_HOURS = 12.0


class Role(enum.StrEnum):
    PRODUCER = "producer"
    DIRECTOR = "director"

    def allows(self, needed: Role) -> bool:
        return self is Role.DIRECTOR or needed is Role.PRODUCER


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role

    @property
    def label(self) -> str:
        return f"{self.role.value}:{self.name}"


@dataclass(frozen=True)
class Credential:
    name: str
    role: Role
    token: str = ""
    password: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


class Operators:
    def __init__(self, credentials: tuple[Credential, ...], secret: str) -> None:
        self._credentials = credentials
        # A key of its own, so a join-link signature can never pass as a session.
        self._key = hashlib.sha256(b"operator-session:" + secret.encode()).digest()

    def by_token(self, token: str) -> Actor | None:
        for cred in self._credentials:
            if _same(cred.token, token):
                return Actor(cred.name, cred.role)
        return None

    def by_password(self, name: str, password: str) -> Actor | None:
        for cred in self._credentials:
            if cred.name == name and _same(cred.password, password):
                return Actor(cred.name, cred.role)
        return None

    def cookie_for(self, actor: Actor, now: float | None = None) -> str:
        exp = int((time.time() if now is None else now) + SESSION_HOURS * 3600)
        body = json.dumps({"n": actor.name, "r": actor.role.value, "exp": exp}, separators=(",", ":")).encode()
        return f"{_b64(body)}.{_b64(hmac.new(self._key, body, hashlib.sha256).digest())}"

    def from_cookie(self, value: str) -> Actor | None:
        try:
            body_text, sig_text = value.split(".")
            body, sig = _unb64(body_text), _unb64(sig_text)
            if not hmac.compare_digest(sig, hmac.new(self._key, body, hashlib.sha256).digest()):
                return None
            claims = json.loads(body)
            if int(claims["exp"]) < time.time():
                return None
            name, role = str(claims["n"]), Role(claims["r"])
        except (ValueError, KeyError, TypeError):
            return None
        # A removed operator's cookie stops working with the next config.
        if not any(c.name == name and c.role is role for c in self._credentials):
            return None
        return Actor(name, role)

    def identify(self, request: web.Request) -> Actor:
        """The operator behind a request (bearer token or session cookie), or 401."""
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            actor = self.by_token(token.strip()) if scheme.lower() == "bearer" else None
            if actor is None:
                raise Unauthorized("operator token is not valid")
            return actor
        cookie = request.cookies.get(COOKIE)
        if cookie:
            actor = self.from_cookie(cookie)
            if actor is None:
                raise Unauthorized("session expired: sign in again")
            return actor
        raise Unauthorized("sign in, or send Authorization: Bearer <operator token>")

    def require(self, request: web.Request, role: Role) -> Actor:
        actor = self.identify(request)
        if not actor.role.allows(role):
            raise Forbidden(f"{actor.name} is a {actor.role.value}; this needs a {role.value}")
        return actor
