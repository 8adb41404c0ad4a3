"""The README's pictures of the control page: the Wuhan example show with synthetic studios.

Not part of the normal run (three studio encoders are heavy for a test machine):
``CONTROL_SCREENSHOTS=1`` makes it run and write docs/images/control-*.png.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from orchestrator.config import parse
from tests import chromium
from tests.chromium import Chromium
from tests.conftest import Server, serve
from tests.studioprocess import spawn_test_studio, stop_processes
from tests.test_control_page import click, fill, sign_in

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"

pytestmark = [
    pytest.mark.skipif(not chromium.available(), reason="chromium is not installed"),
    pytest.mark.skipif(not os.environ.get("CONTROL_SCREENSHOTS"), reason="set CONTROL_SCREENSHOTS=1 to run"),
    pytest.mark.timeout(900),  # each picture may wait minutes for a loaded machine to run the show steadily
]

PLACES = [
    "武汉",
    "宜昌",
    "襄阳",
    "荆州",
    "黄冈",
    "孝感",
    "恩施",
    "十堰",
    "随州",
    "咸宁",
    "潜江",
    "仙桃",
    "天门",
    "荆门",
]
GOODS = [
    ("热干面", "hot dry noodles", 29.9),
    ("莲藕", "lotus root", 35.0),
    ("小龙虾", "crayfish", 128.0),
    ("富硒绿茶", "selenium green tea", 168.0),
    ("香菇", "shiitake", 45.0),
    ("腊肉", "cured pork", 88.0),
    ("脐橙", "navel oranges", 39.9),
    ("鸭脖", "duck neck", 49.0),
    ("米酒", "rice wine", 25.0),
    ("藕粉", "lotus root starch", 32.0),
    ("猕猴桃", "kiwi fruit", 59.0),
    ("鱼糕", "fish cake", 42.0),
]
KINDS = ["食品有限公司", "农业合作社", "茶业集团", "特产商行", "生态农业"]


def catalogue(n: int = 1200, enterprises: int = 400) -> str:
    rnd = random.Random(510)
    rows = []
    for i in range(n):
        e = i % enterprises
        place = PLACES[e % len(PLACES)]
        name, name_en, base = GOODS[(i * 7 + e) % len(GOODS)]
        price = round(base * rnd.uniform(0.8, 1.3), 1)
        rows.append(
            {
                "id": f"hb-{i:04d}",
                "name": f"{place}{name} {1 + i % 5}件装",
                "name_en": f"{name_en} from {place}",
                "enterprise": f"{place}{KINDS[e % len(KINDS)]}{e:03d}",
                "price": price,
                "was_price": round(price * 1.3, 1),
                "promo": "包邮" if i % 3 == 0 else "",
                "stock": 500 + (i * 37) % 5000,
            }
        )
    return json.dumps({"products": rows}, ensure_ascii=False)


async def _wuhan_show(tmp_path: Path, aiohttp_server: Any, **fields: Any) -> tuple[Server, dict[str, Any]]:
    """configs/wuhan-0510.toml served with its main show only (district shows would encode too),
    that show's ``fields`` changed (None: the key removed): the server, its operator signed in, and
    the show's table."""
    data = tomllib.loads((ROOT / "configs" / "wuhan-0510.toml").read_text(encoding="utf-8"))
    data["server"]["data_dir"] = str(tmp_path / "data")
    data["shows"] = data["shows"][:1]
    show = data["shows"][0]
    show.update(fields)
    for key in [key for key, value in fields.items() if value is None]:
        del show[key]
    config = parse(data, "wuhan-0510.toml")
    server = await serve(aiohttp_server, config)
    server.auth = {"Authorization": f"Bearer {config.server.operator_token}"}
    return server, show


async def _acknowledge_alarms(server: Server, api: str) -> None:
    """Every alarm so far acknowledged: those of a loaded machine's hiccups (the encoder behind, a
    stalled studio process) are not the pictures' subject."""
    _, alarms = await server.api("GET", f"{api}/alarms")
    for alarm in alarms["alarms"]:
        if not alarm.get("acked_by"):
            await server.api("POST", f"{api}/alarms/{alarm['id']}/ack", json={})


async def _steady(
    page: Any, server: Server, api: str, studios: list[str], timeout: float = 180, alarms: bool = False
) -> None:
    """Until the program runs at its frame rate with the first of ``studios`` on air (not a fallback's
    slate), all of them sending pictures (15 fps at least), and no alarm is up (each
    one acknowledged, so it goes once its cause does): a loaded machine's hiccups are not the
    pictures' subject (``alarms``: the ones up are). Raises TimeoutError rather than let a bad picture be taken."""
    steady = (
        "!document.getElementById('out-rate').classList.contains('bad')"
        f" && ({json.dumps(alarms)} || document.getElementById('alarms').hidden)"
        f" && controlPage.state.on_air === {json.dumps(studios[0])}"
        " && !document.getElementById('pgm-name').textContent.includes('SLATE')"
        f" && {json.dumps(studios)}.map(id => controlPage.state.studios.find(s => s.id === id))"
        ".every(s => s.signal === 'ok' && (s.stats?.fps ?? 0) >= 15)"
    )
    deadline = asyncio.get_running_loop().time() + timeout
    held = 0  # seconds in a row: the monitor shows the program a second or two late
    while held < 3:
        held = held + 1 if await page.evaluate(steady) else 0
        if asyncio.get_running_loop().time() > deadline:
            rate = await page.evaluate("document.getElementById('out-rate').textContent")
            raise TimeoutError(f"the show never ran steadily ({rate}): retry on a quieter machine")
        await _acknowledge_alarms(server, api)
        await asyncio.sleep(1)


def _studio(server: Server, show: dict[str, Any], studio: str, **options: Any) -> subprocess.Popen[bytes]:
    """Studio ``studio`` of ``show`` publishing (its names on the picture) until stopped."""
    s = next(x for x in show["studios"] if x["id"] == studio)
    label = f"{s['name']} {s['name_en']}"
    return spawn_test_studio(server, studio, label, show=show["id"], fps=25, bitrate=1_200_000, retry=True,
                             verbose=False, stderr=subprocess.DEVNULL, **options)  # fmt: skip


async def test_control_page_screenshots(tmp_path: Path, aiohttp_server: Any) -> None:
    server, show = await _wuhan_show(tmp_path, aiohttp_server, width=960, height=540, fps=25)
    config = server.config
    api = f"/api/shows/{show['id']}"

    procs: list[subprocess.Popen[bytes]] = []
    async with Chromium(lang="zh-CN") as browser:
        page = await browser.open(f"{server.url}/control/{show['id']}")
        await page.set_viewport(1366, 768)
        await page.wait_for("window.controlPage && !document.getElementById('signin').hidden")
        await page.screenshot(IMAGES / "control-signin.png")
        await sign_in(page, token=config.server.operator_token)
        headers = {**server.auth, "Content-Type": "application/json"}
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{server.url}{api}/products/import", data=catalogue().encode(), headers=headers) as res,
        ):
            assert res.status == 200, await res.text()
        await page.wait_for("controlPage.products.length > 1200")
        await asyncio.sleep(1)
        await page.screenshot(IMAGES / "control-empty.png")

        # Named, not the config's first three: the pictures and the alarm below are about these.
        studios = ["beijing", "hongkong", "wuhan-hannan"]
        for studio, tone in zip(studios, (440.0, 554.0, 659.0), strict=True):
            procs.append(_studio(server, show, studio, tone_hz=tone, width=960, height=540))
        try:
            await page.wait_for(
                "controlPage.state.studios.filter(s => s.online).length === 3"
                f" && {json.dumps(studios)}.every(s => controlPage.frames[s] > 3)",
                timeout=60,
            )
            rundown = {
                "beijing": ["wangji-chicken-soup", "cailinji-reganmian", "hb-0003", "hb-0014", "hb-0101"],
                "hongkong": ["zhouheiya-duck-neck", "bestore-snack-box", "hb-0020"],
            }
            status, body = await server.api("PUT", f"{api}/rundown", json={"studios": rundown})
            assert status == 200, body
            await server.api("POST", f"{api}/cut", json={"studio": "beijing"})
            await server.api("POST", f"{api}/preview", json={"studio": "hongkong"})
            await server.api(
                "POST",
                f"{api}/studios/beijing/cue",
                json={"product": "wangji-chicken-soup", "message": "介绍礼盒装，提醒买二赠一"},
            )
            # The next look built on preview: Hong Kong with Beijing inset (not on air until taken).
            pip = {"layout": "pip", "studios": ["hongkong", "beijing"], "corner": "top-right"}
            await server.api("POST", f"{api}/layout", json=pip)
            await asyncio.sleep(4)
            await _steady(page, server, api, studios)
            await page.screenshot(IMAGES / "control-live.png")

            # A card on air with a flash-sale countdown, from the page; the rundown beside it.
            await click(page, "[data-tab=rundown]")
            await page.evaluate("document.getElementById('rundown-studio').value = 'beijing'")
            await page.evaluate("document.getElementById('rundown-studio').dispatchEvent(new Event('change'))")
            await click(page, "[data-tab=products]")
            await fill(page, "#product-search", "鸡汤")
            await page.wait_for("document.querySelector('.prow[data-product=wangji-chicken-soup]') !== null")
            await click(page, ".prow[data-product=wangji-chicken-soup]")
            await page.evaluate("document.getElementById('ed-countdown').value = '300'")
            await click(page, "#ed-card")
            await page.wait_for("controlPage.state.cards.length === 1")
            await click(page, "[data-tab=rundown]")
            await asyncio.sleep(3)
            await _steady(page, server, api, studios)
            await page.screenshot(IMAGES / "control-card.png")
            # A studio dies (its process killed, no goodbye): NO SIGNAL and an alarm with the fix.
            procs[2].kill()
            await page.wait_for(
                "document.querySelector(\"#alarms .alarm[data-alarm='studio.no_signal:wuhan-hannan']\") !== null"
                " && document.querySelector('.tile[data-studio=wuhan-hannan] .badge.nosignal') !== null",
                timeout=20,
            )
            await asyncio.sleep(1.5)
            await page.screenshot(IMAGES / "control-alarm.png")
            await page.evaluate("document.getElementById('help-btn').click()")
            await asyncio.sleep(0.5)
            await page.screenshot(IMAGES / "control-keys.png")
            await page.evaluate("document.getElementById('help-close').click()")
            await page.set_viewport(1920, 1080)
            await click(page, "[data-tab=audio]")
            await _steady(page, server, api, studios[:2], alarms=True)
            await page.screenshot(IMAGES / "control-1080p.png")
        finally:
            stop_processes(procs, 10)


async def test_two_programs_screenshots(tmp_path: Path, aiohttp_server: Any) -> None:
    """The README's pictures of one show in both shapes: the control page with the 16:9 and 9:16
    monitors and an upright phone's tile, and a frame of each program with a card on air."""
    from tests.flvpull import record_flv
    from tests.mediacheck import without_cue_points

    server, show = await _wuhan_show(
        tmp_path, aiohttp_server, width=1280, height=720, fps=25, programs=["landscape", "portrait"], orientation=None
    )
    config = server.config
    api = f"/api/shows/{show['id']}"
    procs: list[subprocess.Popen[bytes]] = []
    # Beijing from a 16:9 camera, Hong Kong from a phone held upright.
    for studio, size, tone in (("beijing", (960, 540), 440.0), ("hongkong", (540, 960), 554.0)):
        procs.append(_studio(server, show, studio, tone_hz=tone, width=size[0], height=size[1]))
    try:
        async with Chromium(lang="zh-CN") as browser:
            page = await browser.open(f"{server.url}/control/{show['id']}")
            await page.set_viewport(1366, 768)
            await page.wait_for("window.controlPage && !document.getElementById('signin').hidden")
            await sign_in(page, token=config.server.operator_token)
            await page.wait_for(
                "controlPage.state.studios.filter(s => s.online).length === 2"
                " && ['beijing', 'hongkong'].every(s => controlPage.frames[s] > 3)",
                timeout=60,
            )
            await server.api("POST", f"{api}/cut", json={"studio": "beijing"})
            await server.api("POST", f"{api}/preview", json={"studio": "hongkong"})
            status, body = await server.api(
                "POST", f"{api}/cards", json={"product": "wangji-chicken-soup", "slot": "main"}
            )
            assert status == 200, body
            await server.api("POST", f"{api}/lower-third", json={"studio": "beijing", "text": "正在介绍：汪集鸡汤"})
            await server.api("POST", f"{api}/logo", json={"on": True})
            await asyncio.sleep(4)
            await page.wait_for(
                "controlPage.state.on_air === 'beijing' && controlPage.state.studios"
                ".every(s => !['beijing', 'hongkong'].includes(s.id) || s.signal === 'ok')",
                timeout=60,
            )
            await _steady(page, server, api, ["beijing", "hongkong"])
            await asyncio.sleep(1)
            await page.screenshot(IMAGES / "control-programs.png")
            for pid, name in (
                (show["id"], "program-landscape.png"),
                (f"{show['id']}-portrait", "program-portrait.png"),
            ):
                # The studio on air, not the slate (a studio's process can stall on a loaded machine).
                await page.wait_for(
                    "controlPage.state.on_air === 'beijing' && controlPage.state.studios"
                    ".find(s => s.id === 'beijing').signal === 'ok'",
                    timeout=60,
                )
                flv = await record_flv(f"{server.url}/live/{pid}.flv", 2.5)
                frames = await asyncio.to_thread(_last_frame, without_cue_points(flv))
                frames.save(IMAGES / name)
    finally:
        stop_processes(procs, 10)


def _last_frame(flv: bytes) -> Any:
    import io

    import av

    with av.open(io.BytesIO(flv), format="flv") as container:
        last = None
        for frame in container.decode(video=0):
            last = frame
    assert last is not None
    return last.to_image()
