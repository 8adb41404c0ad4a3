"""Operator password hashes: scrypt (RFC 7914, Python's ``hashlib``) in one self-describing string.

Format: ``scrypt$ln=15,r=8,p=1$<salt>$<hash>`` (salt and hash base64url, no padding), so the
cost can be raised later without breaking the hashes already in config files. ``broadcast
hash-password`` makes one. Cost: N=2**15, r=8 uses 32 MiB and took 0.15 s on the 2-core
build machine (OWASP's password storage cheat sheet asks for at least N=2**17 on fast
servers; the parameters travel with the hash, so a deployment may choose more).
"""

from __future__ import annotations

import base64
import hmac
import os
import re
from hashlib import scrypt

DEFAULT_LOG2_N = 15
BLOCK_SIZE = 8
PARALLELISM = 1
KEY_BYTES = 32
_HASH_RE = re.compile(r"^scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{43})$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 2**log2_n
    # maxmem: scrypt needs 128*N*r bytes; OpenSSL's default ceiling (32 MiB) is just too small.
    return scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2**20, dklen=KEY_BYTES)


def hash_password(password: str, log2_n: int = DEFAULT_LOG2_N) -> str:
    """A new salted hash of ``password`` (a few hundred ms of CPU: call it off the event loop)."""
    salt = os.urandom(16)
    key = _derive(password, salt, log2_n, BLOCK_SIZE, PARALLELISM)
    return f"scrypt$ln={log2_n},r={BLOCK_SIZE},p={PARALLELISM}${_b64(salt)}${_b64(key)}"


def hash_problem(encoded: str) -> str | None:
    """Why ``encoded`` is not a hash this module can check, or None if it is."""
    match = _HASH_RE.match(encoded)
    if match is None:
        return "must be scrypt$ln=..,r=..,p=..$salt$hash (make one with `broadcast hash-password`)"
    log2_n, r, p = (int(g) for g in match.groups()[:3])
    if not (10 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 4):
        return "scrypt parameters out of range (ln 10-20, r 1-32, p 1-4)"
    return None


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded``; raises ValueError if ``encoded`` is malformed."""
    problem = hash_problem(encoded)
    if problem is not None:
        raise ValueError(problem)
    match = _HASH_RE.match(encoded)
    assert match is not None
    log2_n, r, p = (int(g) for g in match.groups()[:3])
    key = _derive(password, _unb64(match.group(4)), log2_n, r, p)
    return hmac.compare_digest(key, _unb64(match.group(5)))
