"""The graphics API on a real server: cards on and off air with an audit trail, live product
edits with validation, price confirmation, lower third and logo, and a restart from Redis."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.app import create_app
from orchestrator.appkeys import SHOWS
from orchestrator.store import ShowState
from tests.conftest import Server, make_config
from tests.redisserver import RedisServer

PRODUCTS = [
    {
        "id": "soup",
        "name": "汪集鸡汤",
        "name_en": "Wangji chicken soup",
        "enterprise": "汪集",
        "price": 39.9,
        "was_price": 59.9,
        "promo": "买二赠一",
        "stock": 5000,
        "buy_url": "https://shop.example.org/p/soup",
    },
    {"id": "tea", "name": "恩施玉露 绿茶", "enterprise": "恩施玉露茶业", "price": 198.0},
]
STUDIOS = [
    {"id": "alpha", "name": "北京直播间", "place": "北京 Beijing", "host": "王主持"},
    {"id": "bravo", "name": "香港直播间", "place": "香港 Hong Kong"},
]
BASE = "/api/shows/test-show"


async def _start(tmp_path: Path, aiohttp_server: Any, redis_url: str = "") -> tuple[Server, Any]:
    config = make_config(tmp_path, products=PRODUCTS, studios=STUDIOS)
    if redis_url:
        config = dataclasses.replace(config, server=dataclasses.replace(config.server, redis_url=redis_url))
    srv = await aiohttp_server(create_app(config), host="127.0.0.1")
    return Server.of(srv, config), srv


@pytest.fixture
async def node(tmp_path: Path, aiohttp_server: Any) -> tuple[Server, Any]:
    return await _start(tmp_path, aiohttp_server)


async def _events(server: Server, prefix: str) -> list[dict[str, Any]]:
    _, body = await server.api("GET", f"{BASE}/events")
    return [e for e in body["events"] if e["kind"].startswith(prefix)]


async def test_card_on_and_off_air_with_audit_trail(node: tuple[Server, Any]) -> None:
    server, srv = node
    status, body = await server.api("GET", f"{BASE}/products")
    assert status == 200
    soup = next(p for p in body["products"] if p["id"] == "soup")
    assert (soup["price"], soup["catalogue_price"], soup["stock"], soup["on_air"]) == (39.9, 39.9, 5000, [])

    status, body = await server.api(
        "POST", f"{BASE}/cards", json={"product": "soup", "slot": "main", "countdown_s": 300}
    )
    assert status == 200, body
    assert body["card"]["price"] == 39.9 and body["card"]["countdown_left_s"] in (299, 300)
    status, body = await server.api("POST", f"{BASE}/cards", json={"product": "tea", "slot": "tag1"})
    assert status == 200, body

    _, state = await server.api("GET", BASE)
    assert [(c["slot"], c["product"], c["price"]) for c in state["cards"]] == [
        ("main", "soup", 39.9),
        ("tag1", "tea", 198.0),
    ]
    runner = srv.app[SHOWS]["test-show"]
    assert set(runner.graphics.on_air()) == {"main", "tag1"}  # drawn, not just stored
    _, body = await server.api("GET", f"{BASE}/products")
    assert next(p for p in body["products"] if p["id"] == "soup")["on_air"] == ["main"]

    # Stock changes while on air: no confirmation needed, the card updates in place.
    status, body = await server.api("PATCH", f"{BASE}/products/soup", json={"stock": 4990, "sold": 10})
    assert status == 200 and body["product"]["stock"] == 4990 and body["product"]["sold"] == 10

    # Another product into the main slot replaces the card: one hidden and one shown event.
    status, _ = await server.api("POST", f"{BASE}/cards", json={"product": "tea", "slot": "main"})
    assert status == 200
    status, _ = await server.api("DELETE", f"{BASE}/cards/main")
    assert status == 200
    status, _ = await server.api("DELETE", f"{BASE}/cards/tag1")
    assert status == 200
    _, state = await server.api("GET", BASE)
    assert state["cards"] == []

    cards = [
        (e["kind"], e["detail"]["slot"], e["detail"]["product"], e["detail"]["price"])
        for e in await _events(server, "card.")
    ]
    assert cards == [
        ("card.shown", "main", "soup", 39.9),
        ("card.shown", "tag1", "tea", 198.0),
        ("card.hidden", "main", "soup", 39.9),
        ("card.shown", "main", "tea", 198.0),
        ("card.hidden", "main", "tea", 198.0),
        ("card.hidden", "tag1", "tea", 198.0),
    ]
    events = await _events(server, "card.")
    assert all(e["actor"] == "director" for e in events)
    assert events[0]["detail"]["countdown_s"] == 300
    assert all(e["detail"]["on_air_s"] >= 0 for e in events if e["kind"] == "card.hidden")
    assert (await _events(server, "product.updated"))[0]["detail"] == {
        "product": "soup",
        "changes": {"stock": 4990, "sold": 10},
    }


async def test_a_price_that_differs_from_the_catalogue_needs_confirmation(node: tuple[Server, Any]) -> None:
    server, _ = node
    status, body = await server.api("PATCH", f"{BASE}/products/soup", json={"price": 35})
    assert status == 200 and body["product"]["price"] == 35 and body["product"]["overridden"] == ["price"]
    status, body = await server.api("POST", f"{BASE}/cards", json={"product": "soup"})
    assert status == 409 and "confirm_price" in body["error"] and "39.9" in body["error"]
    _, state = await server.api("GET", BASE)
    assert state["cards"] == []
    status, body = await server.api("POST", f"{BASE}/cards", json={"product": "soup", "confirm_price": True})
    assert status == 200 and body["card"]["price"] == 35

    # On air: changing the price again needs the same confirmation.
    status, body = await server.api("PATCH", f"{BASE}/products/soup", json={"price": 36})
    assert status == 409, body  # says the refused price would go on air, not that it is live
    assert body["error"].startswith("not changed: 'soup' would go on air at ¥36, not at the catalogue's ¥39.9")
    _, state = await server.api("GET", BASE)
    assert state["cards"][0]["price"] == 35
    status, body = await server.api("PATCH", f"{BASE}/products/soup", json={"price": 36, "confirm_price": True})
    assert status == 200
    _, state = await server.api("GET", BASE)
    assert state["cards"][0]["price"] == 36
    # Back to the catalogue price (null clears the override): no confirmation needed.
    status, body = await server.api("PATCH", f"{BASE}/products/soup", json={"price": None})
    assert status == 200 and body["product"]["price"] == 39.9 and body["product"]["overridden"] == []

    events = await _events(server, "card.")
    assert events[0]["kind"] == "card.shown" and events[0]["detail"]["catalogue_price"] == 39.9
    changes = [
        (e["detail"]["previous_price"], e["detail"]["price"]) for e in events if e["kind"] == "card.price_changed"
    ]
    assert changes == [(35, 36), (36, 39.9)]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("POST", "/cards", {"product": "caviar"}, 404, "no product 'caviar'"),
        ("POST", "/cards", {"product": "soup", "slot": "tag3"}, 400, "slot"),
        ("POST", "/cards", {"slot": "main"}, 400, "product"),
        ("POST", "/cards", {"product": "soup", "countdown_s": 0}, 400, "countdown_s"),
        ("POST", "/cards", {"product": "soup", "countdown_s": 100000}, 400, "countdown_s"),
        ("POST", "/cards", {"product": "soup", "confirm_price": "yes"}, 400, "confirm_price"),
        ("POST", "/cards", {"product": "soup", "colour": "red"}, 400, "colour"),
        ("DELETE", "/cards/tag3", None, 404, "slot"),
        ("DELETE", "/cards/main", None, 404, "no card on air"),
        ("PATCH", "/products/caviar", {"price": 1}, 404, "no product"),
        ("PATCH", "/products/soup", {"price": -1}, 400, "negative"),
        ("PATCH", "/products/soup", {"price": 3990}, 400, "typo"),
        ("PATCH", "/products/soup", {"price": 39.999}, 400, "decimals"),
        ("PATCH", "/products/soup", {"price": "39.9"}, 400, "number"),
        ("PATCH", "/products/soup", {"price": True}, 400, "number"),
        ("PATCH", "/products/soup", {"stock": -5}, 400, "stock"),
        ("PATCH", "/products/soup", {"stock": 1.5}, 400, "stock"),
        ("PATCH", "/products/soup", {"sold": "many"}, 400, "sold"),
        ("PATCH", "/products/soup", {"promo": "x" * 40}, 400, "promo"),
        ("PATCH", "/products/soup", {"prise": 30}, 400, "prise"),
        ("PATCH", "/products/soup", {}, 400, "nothing to change"),
        ("POST", "/lower-third", {"studio": "zulu"}, 404, "no studio"),
        ("POST", "/lower-third", {"studio": "alpha", "text": "长" * 80}, 400, "text"),
        ("DELETE", "/lower-third", None, 404, "no lower third"),
        ("POST", "/logo", {"on": "yes"}, 400, "on"),
    ],
)
async def test_bad_requests_get_a_clear_4xx_and_change_nothing(
    node: tuple[Server, Any], method: str, path: str, body: Any, status: int, words: str
) -> None:
    server, _ = node
    _, before = await server.api("GET", BASE)
    got, answer = await server.api(method, BASE + path, **({"json": body} if body is not None else {}))
    assert got == status, answer
    assert words in answer["error"], answer
    _, after = await server.api("GET", BASE)
    assert after["version"] == before["version"]


async def test_non_json_and_unauthorised(node: tuple[Server, Any]) -> None:
    import aiohttp

    server, _ = node
    status, body = await server.api("POST", f"{BASE}/cards", data=b"{not json")
    assert status == 400 and "JSON" in body["error"]
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.url + f"{BASE}/cards", json={"product": "soup"}) as res,
    ):
        assert res.status == 401
    status, _ = await server.api("GET", "/api/shows/nope/products")
    assert status == 404


async def test_lower_third_and_logo(node: tuple[Server, Any]) -> None:
    server, srv = node
    status, body = await server.api(
        "POST", f"{BASE}/lower-third", json={"studio": "alpha", "text": "正在介绍：汪集鸡汤"}
    )
    assert status == 200 and body["lower_third"] == {"studio": "alpha", "text": "正在介绍：汪集鸡汤"}
    status, body = await server.api("POST", f"{BASE}/logo", json={"on": True})
    assert status == 200 and body["logo"] is True
    runner = srv.app[SHOWS]["test-show"]
    assert set(runner.graphics.on_air()) == {"lower_third", "logo"}
    _, state = await server.api("GET", BASE)
    assert state["lower_third"]["studio"] == "alpha" and state["logo"] is True
    assert (await server.api("DELETE", f"{BASE}/lower-third"))[0] == 200
    assert (await server.api("POST", f"{BASE}/logo", json={"on": False}))[0] == 200
    kinds = [e["kind"] for e in (await server.api("GET", f"{BASE}/events"))[1]["events"]]
    assert [k for k in kinds if k.startswith(("lower_third", "logo"))] == [
        "lower_third.shown",
        "logo.on",
        "lower_third.hidden",
        "logo.off",
    ]


def test_graphics_state_survives_json() -> None:
    state = ShowState(
        "s",
        cards={"main": {"product": "soup", "price": 35.0, "was_price": 59.9, "shown_at": 1.5, "countdown_until": None}},
        product_overrides={"soup": {"price": 35.0, "stock": 10}},
        lower_third={"studio": "alpha", "text": None},
        logo=True,
    )
    assert ShowState.from_json(json.loads(json.dumps(state.to_json()))) == state
    assert ShowState.from_json({"show": "old"}) == ShowState("old")  # states saved before graphics existed


async def test_a_restart_puts_the_same_graphics_back_on_air(
    tmp_path: Path, aiohttp_server: Any, redis: RedisServer
) -> None:
    a, a_srv = await _start(tmp_path / "a", aiohttp_server, redis.url)
    assert (await a.api("PATCH", f"{BASE}/products/soup", json={"price": 35, "stock": 7}))[0] == 200
    status, _ = await a.api(
        "POST", f"{BASE}/cards", json={"product": "soup", "countdown_s": 600, "confirm_price": True}
    )
    assert status == 200
    assert (await a.api("POST", f"{BASE}/lower-third", json={"studio": "bravo"}))[0] == 200
    await a_srv.close()

    b, b_srv = await _start(tmp_path / "b", aiohttp_server, redis.url)
    runner = b_srv.app[SHOWS]["test-show"]
    await runner.graphics.settle()
    assert set(runner.graphics.on_air()) == {"main", "lower_third"}
    _, state = await b.api("GET", BASE)
    card = state["cards"][0]
    assert (card["product"], card["price"]) == ("soup", 35) and 590 <= card["countdown_left_s"] <= 600
    _, body = await b.api("GET", f"{BASE}/products")
    soup = next(p for p in body["products"] if p["id"] == "soup")
    assert (soup["price"], soup["stock"], soup["on_air"]) == (35, 7, ["main"])
