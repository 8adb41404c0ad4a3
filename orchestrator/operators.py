"""Who is at the control page: operators, their roles, what each role may do, which shows.

Three roles (README, "Who may do what"):

- ``director``: everything.
- ``producer``: read the show; drive cards, products, the rundown, graphics and cues; hear the
  program monitor and solo a studio (``monitor``, also the director's).
  Never the switcher, outputs, or studios' join links.
- ``links``: read the show; hand out join links and QR codes, kick a studio, reissue its link.

An operator may be limited to some shows (``shows = [...]`` in the config; empty = all).
Operators authenticate with a bearer token, or sign in with a token or a name and password
(stored as a scrypt hash, :mod:`orchestrator.passwords`) and then carry a session cookie
(:mod:`orchestrator.sessions`).
"""

from __future__ import annotations

import enum
import functools
import hmac
from dataclasses import dataclass

from orchestrator.passwords import hash_password, verify_password


class Permission(enum.StrEnum):
    READ = "read"  # show state, events, previews, outputs (never join links)
    GRAPHICS = "graphics"  # cards, products, rundown, lower third, logo, cues
    SWITCH = "switch"  # program, preview, take, layout, panic, audio, outputs, recording
    LINKS = "links"  # join links, QR codes, kick, reissue
    MONITOR = "monitor"  # the program monitor with sound, solo (pre-fader listen) of a studio


class Role(enum.StrEnum):
    PRODUCER = "producer"
    DIRECTOR = "director"
    LINKS = "links"

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self]

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self]


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.DIRECTOR: frozenset(Permission),
    Role.PRODUCER: frozenset({Permission.READ, Permission.GRAPHICS, Permission.MONITOR}),
    Role.LINKS: frozenset({Permission.READ, Permission.LINKS}),
}


@dataclass(frozen=True)
class Actor:
    """A signed-in operator. ``shows`` None: every show; ``session``: the cookie's session id."""

    name: str
    role: Role
    shows: frozenset[str] | None = None
    session: str = ""

    @property
    def label(self) -> str:
        return f"{self.role.value}:{self.name}"

    def may(self, permission: Permission) -> bool:
        return self.role.may(permission)

    def sees(self, show: str) -> bool:
        return self.shows is None or show in self.shows


@dataclass(frozen=True)
class Credential:
    """What the config says about one operator: token, password or its scrypt hash, shows."""

    name: str
    role: Role
    token: str = ""
    password: str = ""  # plaintext: deprecated, kept working (a warning at start-up)
    password_hash: str = ""
    shows: tuple[str, ...] = ()

    def actor(self, session: str = "") -> Actor:
        return Actor(self.name, self.role, frozenset(self.shows) if self.shows else None, session)


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


@functools.cache
def _dummy_hash() -> str:
    return hash_password("no operator has this password")


class Operators:
    """The configured operators; lookups compare secrets in constant time."""

    def __init__(self, credentials: tuple[Credential, ...]) -> None:
        self._credentials = credentials

    def by_token(self, token: str) -> Actor | None:
        for cred in self._credentials:
            if _same(cred.token, token):
                return cred.actor()
        return None

    def by_password(self, name: str, password: str) -> Actor | None:
        """The operator if ``password`` is theirs. Takes ~0.15 s with a hash: run it in a thread."""
        for cred in self._credentials:
            if cred.name != name:
                continue
            if cred.password_hash:
                return cred.actor() if verify_password(password, cred.password_hash) else None
            return cred.actor() if _same(cred.password, password) else None
        # As slow as a real check, so the answer time does not tell which names exist.
        verify_password(password, _dummy_hash())
        return None

    def by_name(self, name: str, role: Role, session: str = "") -> Actor | None:
        """The operator a session names, if the config still has them with that role."""
        for cred in self._credentials:
            if cred.name == name and cred.role is role:
                return cred.actor(session)
        return None
