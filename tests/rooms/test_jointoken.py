from __future__ import annotations

import pytest

from rooms.jointoken import JoinTokens, TokenError


def test_round_trip_and_scope() -> None:
    tokens = JoinTokens("secret-0123456789abcdef", 3600)
    grant = tokens.verify(tokens.mint("show", "studio"))
    assert (grant.show, grant.studio) == ("show", "studio")


def test_forged_expired_and_malformed_tokens_are_refused() -> None:
    tokens = JoinTokens("secret-0123456789abcdef", 3600)
    other = JoinTokens("another-secret-0123456789", 3600)
    with pytest.raises(TokenError, match="signature"):
        tokens.verify(other.mint("show", "studio"))
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(tokens.mint("show", "studio", ttl_seconds=-1))
    for bad in ("", "abc", "a.b.c", "!!!.???"):
        with pytest.raises(TokenError):
            tokens.verify(bad)
    # A tampered payload with the old signature must fail.
    body, sig = tokens.mint("show", "studio").split(".")
    with pytest.raises(TokenError):
        tokens.verify(body[:-2] + "xx." + sig)
