"""The control page's header on a laptop screen (1366x768, in Chinese): the show's title stays
readable, its id does not spill over the status pills, and nothing is pushed off the right edge.

Since the talkback controls joined the header, a 1366 px window squeezed the title to nothing and
the show's id was drawn under the ON AIR pill (the README's control-*.png showed "0510" there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import chromium
from tests.chromium import Chromium
from tests.conftest import OPERATOR, make_config, serve
from tests.test_control_page import open_control, sign_in

pytestmark = pytest.mark.skipif(not chromium.available(), reason="chromium is not installed")

# Each element of the header: its box, and the box of its text as drawn (wider than the box when it spills).
HEADER = """(() => {
  const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.right]; };
  const drawn = (e) => { const r = document.createRange(); r.selectNodeContents(e);
                         const b = r.getBoundingClientRect(); return [b.left, b.right]; };
  const clips = (e) => getComputedStyle(e).overflowX !== 'visible';
  const parts = ['show-title', 'show-id'].map((id) => document.getElementById(id));
  return {
    width: window.innerWidth,
    keysCut: (() => { const k = document.getElementById('kbd-state'); return k.scrollWidth > k.clientWidth + 1; })(),
    brand: box(document.querySelector('#top .brand')),
    parts: parts.map((e) => ({id: e.id, box: box(e), drawn: drawn(e), clips: clips(e)})),
    children: [...document.getElementById('top').children]
      .filter((e) => e.offsetParent !== null).map((e) => ({id: e.id || e.className, box: box(e)})),
  };
})()"""


@pytest.fixture
def browser_lang() -> str:
    return "zh-CN"


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
async def test_header_fits_a_laptop_screen(
    tmp_path: Path, aiohttp_server: Any, browser: Chromium, size: tuple[int, int]
) -> None:
    config = make_config(tmp_path, title="为湖北拼单 · Buy for Hubei 0510")
    server = await serve(aiohttp_server, config)
    status, body = await server.api("POST", "/api/shows/test-show/cut", json={"studio": "alpha"})
    assert status == 200, body  # on air: the widest ON AIR pill, with the studio's name
    page = await open_control(browser, server, *size)
    await sign_in(page, token=OPERATOR)
    shown = "!document.getElementById('talkback').hidden && document.getElementById('out-rate').textContent !== '—'"
    await page.wait_for(shown, timeout=15)
    header = await page.evaluate(HEADER)
    _assert_fits(header)
    assert not header["keysCut"], f"KEYS ON cut short: {header}"
    # The keys' pill at its longest: off while a dialog is open.
    await page.evaluate("document.getElementById('help-btn').click()")
    await page.wait_for("document.getElementById('kbd-state').classList.contains('kbd-off')")
    _assert_fits(await page.evaluate(HEADER))


def _assert_fits(header: dict[str, Any]) -> None:
    for child in header["children"]:
        assert child["box"][1] <= header["width"] + 0.5, f"{child['id']} pushed off the screen: {header}"
    title, show_id = header["parts"]
    assert title["box"][1] - title["box"][0] >= 60, f"the show's title squeezed away: {header}"
    brand_right = header["brand"][1]
    for part in (title, show_id):
        spills = part["drawn"][1] > part["box"][1] + 0.5 and not part["clips"]
        assert not spills and part["box"][1] <= brand_right + 0.5, f"{part['id']} drawn over the next pill: {header}"
