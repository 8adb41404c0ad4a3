"""What a publisher's offer will send: audio, video or both (a phone-in guest sends audio only)."""

from __future__ import annotations

from aiortc.sdp import SessionDescription

SENDING = (None, "sendrecv", "sendonly")  # no direction attribute means sendrecv (RFC 8866 6.7)


def sent_kinds(offer_sdp: str) -> set[str]:
    """The media kinds (``"audio"``, ``"video"``) the offer's m= sections send to us.

    For an offer already answered; if it cannot be parsed, assume both.
    """
    try:
        media = SessionDescription.parse(offer_sdp).media
    except (ValueError, KeyError, IndexError, AssertionError):
        return {"audio", "video"}
    return {m.kind for m in media if m.direction in SENDING}
