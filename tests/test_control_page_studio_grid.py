"""The control page's studio tiles on a laptop screen with the Wuhan show's 16 studios.

At 1366x768 with 16 studios, the tiles' rows were squeezed into the grid's share of the column (a tile
clips its overflow): every tile lost its name bar, and the event log was pushed below the window, where
nothing could scroll to it (the column clips). Every tile must now be whole and either on the screen
or inside a scrollable box that can reveal it; the log stays on the screen; 3 studios keep big tiles.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests import chromium
from tests.chromium import Chromium
from tests.conftest import OPERATOR, make_config, serve
from tests.test_control_page import open_control, sign_in

pytestmark = pytest.mark.skipif(not chromium.available(), reason="chromium is not installed")

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "wuhan-0510.toml"

# For each tile (and the event log): its box, whether its content is clipped by its own box, and
# whether the user can see it: true (on the screen), "scroll" (a scrollable ancestor can reveal it) or
# false (cut off by a box that does not scroll, or by the window).
GEOMETRY = """(() => {
  const overflow = (e) => getComputedStyle(e).overflowY;
  const clips = (e) => overflow(e) !== 'visible';
  const scrolls = (e) => ['auto', 'scroll'].includes(overflow(e)) && e.scrollHeight > e.clientHeight + 1;
  const reach = (e) => {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return false;
    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
      if (!clips(a)) continue;
      const c = a.getBoundingClientRect();
      const top = c.top + a.clientTop, left = c.left + a.clientLeft;
      const inside = r.top >= top - 0.5 && r.bottom <= top + a.clientHeight + 0.5
        && r.left >= left - 0.5 && r.right <= left + a.clientWidth + 0.5;
      if (inside) continue;
      const fits = r.height <= a.clientHeight + 0.5 && r.left >= left - 0.5 && r.right <= left + a.clientWidth + 0.5;
      return scrolls(a) && fits && reach(a) === true ? 'scroll' : false;
    }
    return r.top >= -0.5 && r.left >= -0.5 && r.bottom <= innerHeight + 0.5 && r.right <= innerWidth + 0.5;
  };
  const box = (e) => { const r = e.getBoundingClientRect();
                       return [r.left, r.top, r.right, r.bottom].map(Math.round); };
  const tiles = [...document.querySelectorAll('#studio-grid .tile')];
  return {
    window: [innerWidth, innerHeight],
    grid: box(document.getElementById('studio-grid')),
    tiles: tiles.map((t) => {
      const bar = t.querySelector('.tile-bar').getBoundingClientRect(), r = t.getBoundingClientRect();
      return {studio: t.dataset.studio, box: box(t), reach: reach(t),
              clipped: t.scrollHeight > t.clientHeight + 1 || bar.bottom > r.bottom + 0.5};
    }),
    log: {box: box(document.getElementById('log-box')), reach: reach(document.getElementById('log-box'))},
  };
})()"""


def _wuhan_studios(n: int) -> list[dict[str, Any]]:
    """The first ``n`` studios of the model event's main show (it has 16)."""
    show = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["shows"][0]
    assert len(show["studios"]) >= n
    return [dict(s) for s in show["studios"][:n]]


@pytest.mark.parametrize("count", [16, 3])
@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
async def test_every_studio_tile_can_be_seen(
    tmp_path: Path, aiohttp_server: Any, browser: Chromium, size: tuple[int, int], count: int
) -> None:
    config = make_config(tmp_path, title="为湖北拼单 · Buy for Hubei 0510", studios=_wuhan_studios(count))
    server = await serve(aiohttp_server, config)
    page = await open_control(browser, server, *size)
    await sign_in(page, token=OPERATOR)
    await page.wait_for(f"document.querySelectorAll('#studio-grid .tile').length === {count}", timeout=15)
    geometry = await page.evaluate(GEOMETRY)

    for tile in geometry["tiles"]:
        assert not tile["clipped"], f"{tile['studio']}'s tile squeezed (its name bar cut off): {geometry}"
        assert tile["reach"], f"{tile['studio']}'s tile cannot be seen or scrolled to: {geometry}"
    assert geometry["log"]["reach"] is True, f"the event log is off the screen: {geometry}"
    widths = {tile["box"][2] - tile["box"][0] for tile in geometry["tiles"]}
    if count == 3:
        assert min(widths) >= 150, f"3 studios shrank to small tiles: {geometry}"
