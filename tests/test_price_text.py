"""One price, one text: the pages (static/price.js) write a price exactly as the program's card
does (mixer/graphics/text.py ``format_price``), checked in Chromium against the Python rule for
seeded prices and the edge cases of rounding to the fen.

The control page used to show "¥39.90" and "¥113800.00", the host's cue "¥119800", while the card
on air said "¥39.9" and "¥119,800".
"""

from __future__ import annotations

import json
import random

import pytest

from mixer.graphics.text import format_price
from orchestrator.fields import MAX_PRICE
from tests import chromium
from tests.chromium import Chromium
from tests.conftest import Server

pytestmark = pytest.mark.skipif(not chromium.available(), reason="chromium is not installed")

EDGES = [0, 0.0004, 0.001, 0.005, 0.01, 0.1, 1.005, 2.675, 3.05, 12.5, 39.9, 99, 999.995, 1000, 119800, 9999999.99]


async def test_pages_write_prices_as_the_program_card_does(server: Server, browser: Chromium) -> None:
    rnd = random.Random(8216)
    prices = [*EDGES, MAX_PRICE]
    prices += [round(rnd.uniform(0, 2000), rnd.randint(0, 4)) for _ in range(300)]
    prices += [round(rnd.uniform(0, MAX_PRICE), rnd.randint(0, 3)) for _ in range(100)]
    page = await browser.open(f"{server.url}/join/{server.token('alpha')}")
    await page.wait_for("typeof window.priceText === 'function'")
    shown = await page.evaluate(f"{json.dumps(prices)}.map(window.priceText)")
    expected = ["¥" + format_price(p) for p in prices]
    wrong = [(p, s, e) for p, s, e in zip(prices, shown, expected, strict=True) if s != e]
    assert not wrong, wrong[:10]
    assert await page.evaluate("[null, '', -1, NaN].map(window.priceText)") == ["—"] * 4
