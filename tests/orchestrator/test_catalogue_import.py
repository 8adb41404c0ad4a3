"""A catalogue of 1,000+ products from 400+ enterprises: import, search, rundown."""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from pathlib import Path
from typing import Any

import aiohttp

from orchestrator.app import create_app
from tests.conftest import Server, make_config
from tests.redisserver import RedisServer


def big_csv(n: int = 1200, enterprises: int = 420) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, ["id", "name", "name_en", "enterprise", "price", "was_price", "promo", "stock"])
    writer.writeheader()
    for i in range(n):
        writer.writerow(
            {"id": f"p{i:04d}", "name": f"湖北特产 {i}", "name_en": f"Hubei speciality {i}",
             "enterprise": f"企业 {i % enterprises}", "price": f"{10 + i % 90}.9", "was_price": "199",
             "promo": "买二赠一" if i % 7 == 0 else "", "stock": str(100 + i)}
        )  # fmt: skip
    return out.getvalue().encode("utf-8")


async def _post(server: Server, path: str, body: bytes, content_type: str) -> tuple[int, Any]:
    headers = {**server.auth, "Content-Type": content_type}
    async with aiohttp.ClientSession() as http, http.post(server.url + path, data=body, headers=headers) as res:
        return res.status, await res.json()


async def test_import_search_and_card_from_a_big_catalogue(server: Server) -> None:
    t0 = time.perf_counter()
    status, body = await _post(server, "/api/shows/test-show/products/import", big_csv(), "text/csv")
    assert status == 200 and body == {"imported": 1200, "total": 1201}, body
    assert time.perf_counter() - t0 < 20  # generous for a loaded box: it only catches a pathological import
    _, found = await server.api("GET", "/api/shows/test-show/products?q=speciality 1199")
    assert [p["id"] for p in found["products"]] == ["p1199"]
    _, found = await server.api("GET", "/api/shows/test-show/products?q=企业 419")
    assert len(found["products"]) >= 2
    status, _ = await server.api("POST", "/api/shows/test-show/cards", json={"product": "p0042"})
    assert status == 200
    _, state = await server.api("GET", "/api/shows/test-show")
    assert "p0042" in str(state["cards"])


async def test_bad_rows_refuse_the_whole_import(server: Server) -> None:
    cases = [
        (b"id,name,enterprise,price\nok-1,A,E,1\nbad id,B,E,2\n", "text/csv", "row 3"),
        (b"id,name,enterprise,price\nx,A,E,cheap\n", "text/csv", "'price' must be a number"),
        (b"id,name,enterprise,price,colour\nx,A,E,1,red\n", "text/csv", "unknown field 'colour'"),
        (b'[{"id": "x", "name": "A", "enterprise": "E", "price": -1}]', "application/json", "between 0"),
        (b'{"products": 5}', "application/json", "list of products"),
        (b"\xff\xfe", "text/csv", "UTF-8"),
        (b"[]", "application/json", "empty"),
        (b"id,name,enterprise,price\nx,A,E,1\n", "text/plain", "text/csv"),
    ]
    for body, ctype, words in cases:
        status, answer = await _post(server, "/api/shows/test-show/products/import", body, ctype)
        assert status == 400 and words in answer["error"], (body, answer)
    _, found = await server.api("GET", "/api/shows/test-show/products")
    assert [p["id"] for p in found["products"]] == ["soup"]  # nothing half-imported


async def test_rundown_validates_and_round_trips(server: Server) -> None:
    await _post(server, "/api/shows/test-show/products/import", big_csv(5), "text/csv")
    order = {"studios": {"alpha": ["p0003", "soup", "p0001"], "bravo": []}}
    status, body = await server.api("PUT", "/api/shows/test-show/rundown", json=order)
    assert status == 200 and body == order
    assert (await server.api("GET", "/api/shows/test-show/rundown"))[1] == order
    for bad in ({"studios": {"zulu": []}}, {"studios": {"alpha": ["nope"]}}, {"studios": {"alpha": ["soup", "soup"]}},
                {"alpha": []}, {"studios": {"alpha": "soup"}}):  # fmt: skip
        assert (await server.api("PUT", "/api/shows/test-show/rundown", json=bad))[0] == 400, bad


async def test_imported_catalogue_and_rundown_survive_a_restart(tmp_path: Path, aiohttp_server: Any) -> None:
    with RedisServer() as redis:
        config = make_config(tmp_path)
        config = dataclasses.replace(config, server=dataclasses.replace(config.server, redis_url=redis.url))
        first = await aiohttp_server(create_app(config), host="127.0.0.1")
        a = Server.of(first, config)
        await _post(a, "/api/shows/test-show/products/import", big_csv(30), "text/csv")
        await a.api("PUT", "/api/shows/test-show/rundown", json={"studios": {"alpha": ["p0007"]}})
        await first.close()
        second = await aiohttp_server(create_app(config), host="127.0.0.1")
        b = Server.of(second, config)
        _, found = await b.api("GET", "/api/shows/test-show/products")
        assert len(found["products"]) == 31
        assert (await b.api("GET", "/api/shows/test-show/rundown"))[1] == {"studios": {"alpha": ["p0007"]}}
