"""Operator sessions: a signed, expiring cookie, its CSRF token, and server-side sign-out.

The cookie (``broadcast_session``, HttpOnly, SameSite=Strict) holds the operator's name,
role, a random session id and the expiry, signed with itsdangerous under a salt of its
own (a join-link signature never passes as a session). Signing out writes the session id
to the state store (``get_doc("_sessions", "revoked:<id>")``), so the cookie stops working
on every node at once, not only in the browser that dropped it.

Cross-site requests: a state-changing request authenticated by the cookie must come from
our own origin (``Origin``/``Sec-Fetch-Site``) AND carry either the session's CSRF token
(``X-CSRF-Token``, returned by ``POST /api/login`` and ``GET /api/me``) or a JSON body
(``Content-Type: application/json``): neither can be sent cross-site without a CORS
preflight, which this server never grants for ``/api``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeSerializer

from orchestrator.operators import Actor, Role
from orchestrator.store import StateStore, StoreUnavailable

log = logging.getLogger(__name__)

COOKIE = "broadcast_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_HOURS = 12.0
REVOKED_DOCS = "_sessions"  # the store's doc namespace for revoked session ids (not a show)
RECHECK_SECONDS = 2.0  # a sign-out on another node takes effect here within this long
STORE_BACKOFF_SECONDS = 5.0  # after the store failed to answer, ask it again only after this long


@dataclass(frozen=True)
class Session:
    name: str
    role: Role
    sid: str
    expires: int  # unix time


class Sessions:
    """Issues and checks session cookies; ``revoke`` signs one out everywhere."""

    def __init__(self, secret: str) -> None:
        self._signer = URLSafeSerializer(secret, salt="operator-session")
        self._csrf_key = hashlib.sha256(b"operator-csrf:" + secret.encode()).digest()
        self._revoked: dict[str, int] = {}  # sid -> expiry: this node's own knowledge
        self._checked: dict[str, float] = {}  # sid -> when the store last said "not revoked" (monotonic)
        self._store_down_until = 0.0

    def issue(self, actor: Actor, now: float | None = None) -> tuple[str, Session]:
        """A new cookie value and its session for ``actor``."""
        expires = int((time.time() if now is None else now) + SESSION_HOURS * 3600)
        session = Session(actor.name, actor.role, secrets.token_urlsafe(18), expires)
        value = self._signer.dumps({"n": session.name, "r": session.role.value, "sid": session.sid, "exp": expires})
        return value, session

    def read(self, value: str, now: float | None = None) -> Session | None:
        """The session a cookie holds, or None if forged, malformed or expired (not revocation)."""
        try:
            claims = self._signer.loads(value)
            session = Session(str(claims["n"]), Role(claims["r"]), str(claims["sid"]), int(claims["exp"]))
        except (BadData, ValueError, KeyError, TypeError):
            return None
        if session.expires < (time.time() if now is None else now):
            return None
        return session

    def csrf_token(self, sid: str) -> str:
        return hmac.new(self._csrf_key, sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, sid: str, given: str) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf_token(sid).encode(), given.encode())

    async def revoke(self, session: Session, store: StateStore) -> None:
        """Sign ``session`` out on this node now and, through the store, on every node."""
        self._revoked[session.sid] = session.expires
        self._forget_expired()
        await store.put_doc(REVOKED_DOCS, f"revoked:{session.sid}", {"exp": session.expires})

    async def revoked(self, sid: str, store: StateStore) -> bool:
        """Whether ``sid`` was signed out here or on another node.

        The store is asked at most every RECHECK_SECONDS per session (the control page
        fetches previews several times a second). With the store unreachable, this node's own
        sign-outs still count; another node's are honoured again once the store answers.
        """
        if sid in self._revoked:
            return True
        now = time.monotonic()
        if now - self._checked.get(sid, -RECHECK_SECONDS) < RECHECK_SECONDS or now < self._store_down_until:
            return False
        try:
            found = await store.get_doc(REVOKED_DOCS, f"revoked:{sid}")
        except StoreUnavailable as exc:
            self._store_down_until = now + STORE_BACKOFF_SECONDS
            log.warning("session revocation list unreadable (%s): trusting this node's own list", exc)
            return False
        if found is not None:
            self._revoked[sid] = int(found.get("exp", 0)) if isinstance(found, dict) else 0
            self._checked.pop(sid, None)
            return True
        if len(self._checked) > 10_000:
            self._checked.clear()
        self._checked[sid] = now
        return False

    def _forget_expired(self) -> None:
        if len(self._revoked) > 10_000:
            now = time.time()
            self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp >= now}
