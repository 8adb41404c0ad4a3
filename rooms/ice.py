"""Which local addresses our ICE agent offers as host candidates.

aioice enumerates interfaces itself and always leaves out 127.0.0.1, so a
server that must be reachable on loopback (tests, a same-host relay) or only on
chosen interfaces has to say so. The setting is process-wide because aioice
reads it from a module-level function.
"""

from __future__ import annotations

import aioice.ice

_original = aioice.ice.get_host_addresses


def offer_host_addresses(addresses: tuple[str, ...] | list[str]) -> None:
    """Offer exactly ``addresses``; an empty list restores aioice's own choice."""
    chosen = list(addresses)
    if not chosen:
        aioice.ice.get_host_addresses = _original
        return

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses
