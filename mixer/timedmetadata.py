"""Timed metadata: what a commerce platform needs to know, at the frame where it happens.

A **cue** is one event about a product card in the picture (``card.shown``,
``card.hidden``, ``price.changed``, ``stock.changed``, ``countdown.started``,
``broadcast.panic`` (``on``: the program went to the clean slate, or back) and
``broadcast.dumped`` when a delayed output replaced its buffer with the slate).  The
graphics director finds them by comparing what is on air before and after a change
(:func:`card_cues`: the card contents already carry the live overrides, so the catalogue
plus overrides is the one source) and hands them to the overlay stack together with the
new layers; the program clock takes them on the tick that first draws the new layers
and the encoder stamps each with that tick's pts (:func:`stamp`).  A cue then travels in
the packet stream as an :class:`~mixer.encodedpacket.EncodedPacket` of kind ``data``
(UTF-8 JSON), so every output, delay line and the webhook sees it at its frame.

Payload (JSON object)::

    {"id": "t1234-0", "event": "card.shown", "slot": "main",
     "product": {"id", "name", "enterprise", "price", "was_price", "stock", "sold", "buy_url"},
     "previous": {"price": 59.9} | {"stock": 10} | absent,
     "countdown_ends_at": 1780000000.0 | null,     # UNIX seconds
     "stream_time": 41.3,                          # pts seconds on the program clock
     "program_date_time": "2026-05-10T12:00:41.300Z"}  # wall time of that frame (HLS PDT)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.graphics.card import CardContent
from mixer.outputs.hlsplaylist import DateRange, format_date_time

EVENTS = (
    "card.shown",
    "card.hidden",
    "price.changed",
    "stock.changed",
    "countdown.started",
    "broadcast.panic",  # {"on": true|false}: the slate without graphics, from this frame
    "broadcast.dumped",
)


@dataclass(frozen=True, slots=True)
class CardOnAirData:
    """What the cue diff needs of one card on air: its content and its countdown end (UNIX s)."""

    content: CardContent
    countdown_until: float | None = None


def product_json(content: CardContent) -> dict[str, Any]:
    return {
        "id": content.product,
        "name": content.name,
        "enterprise": content.enterprise,
        "price": content.price,
        "was_price": content.was_price,
        "stock": content.stock,
        "sold": content.sold,
        "buy_url": content.buy_url,
    }


def _cue(event: str, slot: str, card: CardOnAirData, **extra: Any) -> dict[str, Any]:
    return {
        "event": event,
        "slot": slot,
        "product": product_json(card.content),
        "countdown_ends_at": card.countdown_until,
        **extra,
    }


def card_cues(old: Mapping[str, CardOnAirData], new: Mapping[str, CardOnAirData]) -> list[dict[str, Any]]:
    """The cues from the cards on air ``old`` to ``new`` (slot -> card), hides first.

    A different product in a slot is a hide and a show (the picture animates it the
    same way); the same product with another price or stock is an update in place.
    """
    hides: list[dict[str, Any]] = []
    shows: list[dict[str, Any]] = []
    for slot in sorted(set(old) | set(new)):
        o, n = old.get(slot), new.get(slot)
        if o is not None and (n is None or n.content.product != o.content.product):
            hides.append(_cue("card.hidden", slot, o))
            o = None
        if n is None:
            continue
        if o is None:
            shows.append(_cue("card.shown", slot, n))
            if n.countdown_until is not None:
                shows.append(_cue("countdown.started", slot, n))
            continue
        if n.content.price != o.content.price:
            shows.append(_cue("price.changed", slot, n, previous={"price": o.content.price}))
        if n.content.stock != o.content.stock or n.content.sold != o.content.sold:
            shows.append(_cue("stock.changed", slot, n, previous={"stock": o.content.stock, "sold": o.content.sold}))
        if n.countdown_until is not None and n.countdown_until != o.countdown_until:
            shows.append(_cue("countdown.started", slot, n))
    return hides + shows


def stamp(cue: Mapping[str, Any], tick: int, index: int, fmt: ProgramFormat) -> EncodedPacket:
    """The cue as a ``data`` packet at the frame of ``tick`` (pts in ``1/fps``), with its times filled in.

    ``index`` tells cues of one tick apart (the ``id``: unique for the life of a show).
    """
    seconds = tick / fmt.fps
    body = {
        "id": f"t{tick}-{index}",
        **cue,
        "stream_time": round(seconds, 3),
        "program_date_time": format_date_time(fmt.time_origin + seconds) if fmt.time_origin is not None else None,
    }
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return EncodedPacket("data", data, tick, tick, fmt.video_time_base, False)


def parse(packet: EncodedPacket) -> dict[str, Any]:
    """The cue of a ``data`` packet; ValueError if it is not one."""
    value = json.loads(packet.data)
    if not isinstance(value, dict) or "event" not in value:
        raise ValueError("not a timed metadata cue")
    return value


def daterange(packet: EncodedPacket, start: float, cls: str) -> DateRange:
    """The cue of a ``data`` packet as an HLS ``EXT-X-DATERANGE`` at ``start`` (UNIX seconds).

    The whole payload goes in ``X-PAYLOAD`` (hex), the event and product id in ``X-EVENT`` and
    ``X-PRODUCT`` when present; a payload that is not JSON (or not UTF-8) still gets one
    (id ``pts<pts>``).
    """
    try:
        cue = json.loads(packet.data.decode())
    except ValueError:
        cue = {}
    attributes = [("X-PAYLOAD", "0x" + packet.data.hex())]
    for name, value in (("X-EVENT", cue.get("event")), ("X-PRODUCT", (cue.get("product") or {}).get("id"))):
        if isinstance(value, str) and value:
            attributes.insert(0, (name, '"' + re.sub(r'["\r\n]', "", value) + '"'))
    ident = str(cue.get("id") or f"pts{packet.pts}")
    return DateRange(ident, start, cls, tuple(attributes))
