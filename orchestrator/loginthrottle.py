"""Slows down guessing: failed credential checks per client address and per account.

After ``free`` failures on a key, each further failure locks that key out for twice as
long as the last (1 s, 2 s, 4 s, ... up to ``cap``); a success clears it. While a key is
locked the server answers 429 with ``Retry-After`` without checking the credential, so a
guesser gets about ``free + log2(t)`` tries in ``t`` seconds instead of hundreds per second.
Counts live in this process (each node slows its own clients).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0
    last: float = 0.0


class LoginThrottle:
    MAX_KEYS = 100_000  # beyond this, forget keys whose lock has run out (memory bound)

    def __init__(
        self, free: int = 5, base: float = 1.0, cap: float = 900.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.free, self.base, self.cap = free, base, cap
        self._clock = clock
        self._keys: dict[str, _Failures] = {}

    def retry_after(self, *keys: str) -> int:
        """Whole seconds until every key may try again; 0 = allowed now."""
        now = self._clock()
        wait = max((f.locked_until - now for k in keys if (f := self._keys.get(k)) is not None), default=0.0)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, *keys: str) -> None:
        now = self._clock()
        if len(self._keys) > self.MAX_KEYS:
            self._keys = {k: f for k, f in self._keys.items() if f.locked_until > now or now - f.last < self.cap}
        for key in keys:
            entry = self._keys.setdefault(key, _Failures())
            if now - entry.last > self.cap:
                entry.count = 0  # quiet for a while: start afresh
            entry.count += 1
            entry.last = now
            over = entry.count - self.free
            if over > 0:
                entry.locked_until = now + min(self.base * 2 ** min(over - 1, 30), self.cap)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._keys.pop(key, None)
