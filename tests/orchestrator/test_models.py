"""One rule per value, wherever the value comes from (orchestrator/fields.py, bodies.py, config/).

The issue's examples: a product name with a line break, or a price of 5e7, was accepted from
the config but refused by the import. Now config, import and API refuse both the same way;
and a request body's bad field is a 400 naming it, never a 500.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from typing import Any

import aiohttp
import pytest

from orchestrator import catalogue, productimport
from orchestrator.config import ConfigError, parse
from orchestrator.errors import BadRequest
from orchestrator.fields import MAX_PRICE, InRange
from tests.conftest import Server

GOOD = {"id": "tea", "name": "Tea", "enterprise": "Hubei Tea", "price": 12.5}
BAD_PRODUCTS = [
    ({"name": "Tea\nsecond line"}, "name", "one line"),
    ({"name": "Tea\u2028more"}, "name", "one line"),
    ({"price": 5e7}, "price", "out of range"),
    ({"price": -1}, "price", "out of range"),
    ({"was_price": 5e7}, "was_price", "out of range"),
    ({"promo": "x" * 17}, "promo", "at most 16"),
    ({"stock": 2 * 10**9}, "stock", "out of range"),
]


def _config(product: dict[str, Any]) -> dict[str, Any]:
    return {
        "server": {"operator_token": "12345678", "link_secret": "0123456789abcdef"},
        "shows": [{"id": "s", "title": "S", "studios": [{"id": "a", "name": "A"}], "products": [product]}],
    }


@pytest.mark.parametrize(("change", "key", "problem"), BAD_PRODUCTS)
def test_a_bad_product_is_refused_by_the_config_and_the_import_alike(
    change: dict[str, Any], key: str, problem: str
) -> None:
    product = {**GOOD, **change}
    with pytest.raises(ConfigError) as from_config:
        parse(_config(product), "show.toml")
    assert f"show.toml: shows[0].products[0].{key}: " in str(from_config.value) and problem in str(from_config.value)
    with pytest.raises(BadRequest) as from_json:
        productimport.parse_products(json.dumps([product]).encode(), "application/json")
    assert f"row 1: '{key}'" in from_json.value.message and problem in from_json.value.message
    text = io.StringIO()
    writer = csv.DictWriter(text, list(product))
    writer.writeheader()
    writer.writerow(product)  # a line break inside a quoted cell
    with pytest.raises(BadRequest) as from_csv:
        productimport.parse_products(text.getvalue().encode(), "text/csv")
    assert f"row 2: '{key}'" in from_csv.value.message, from_csv.value.message


def test_the_good_product_loads_from_config_and_import() -> None:
    config = parse(_config(GOOD))
    (product,) = productimport.parse_products(json.dumps([GOOD]).encode(), "application/json")
    assert config.shows[0].products[0] == product
    assert catalogue.MAX_PRICE == MAX_PRICE


def test_max_price_is_defined_once() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "orchestrator"
    defined = [p.name for p in root.rglob("*.py") if "MAX_PRICE =" in p.read_text(encoding="utf-8")]
    assert defined == ["fields.py"]


@pytest.mark.parametrize(
    ("method", "path", "body", "words"),
    [
        ("PATCH", "/products/soup", {"price": 5e7}, "'price': 50000000.0 is out of range"),
        ("PATCH", "/products/soup", {"promo": "a\nb"}, "'promo': must be one line"),
        ("PATCH", "/products/soup", {"stock": True}, "'stock': expected an integer"),
        ("PATCH", "/products/soup", {"colour": "red"}, "'colour': unknown field"),
        ("POST", "/audio/alpha", {"gain_db": 10**30}, "'gain_db': must be a finite number"),
        ("POST", "/audio/alpha", {}, "gain_db"),
        ("POST", "/take", {"transition": "spin"}, "'transition': must be one of cut, fade, wipe, slide"),
        ("POST", "/take", {"duration_ms": 1.5}, "'duration_ms': expected an integer"),
        ("POST", "/cut", {}, "'studio': missing required key"),
        ("POST", "/cut", {"studio": 5}, "'studio': expected a string"),
        ("POST", "/cards", {"product": "soup", "countdown_s": 0}, "'countdown_s'"),
        ("POST", "/lower-third", {"studio": "alpha", "text": "x" * 41}, "'text': must be at most 40 characters"),
        ("POST", "/logo", {"on": "yes"}, "'on': expected true or false"),
        ("PUT", "/rundown", {"studios": {"alpha": "soup"}}, "'studios.alpha': expected a list"),
        # No internal type names in the key (pydantic's union members: list[constrained-str]).
        ("POST", "/talkback/main", {"on": True, "targets": "some"}, "'targets': expected a list, got 'some'"),
        # No empty option offered: the empty default is said in words.
        (
            "POST",
            "/outputs/rtmp",
            {"name": "a", "url": "rtmp://h/app/key", "program": "sideways"},
            "'program': must be one of landscape, portrait (or empty); got 'sideways'",
        ),
        ("POST", "/studios/alpha/cue", {"message": "x" * 501}, "'message': must be at most 500 characters"),
    ],
)
async def test_a_bad_body_is_a_400_naming_the_field(
    server: Server, method: str, path: str, body: dict[str, Any], words: str
) -> None:
    status, answer = await server.api(method, "/api/shows/test-show" + path, json=body)
    assert status == 400 and words in answer["error"], answer


@pytest.mark.parametrize(
    ("method", "path", "words"),
    [
        # Query strings are text: a word where a number goes reads as a body's field does.
        ("GET", "/events?limit=abc", "'limit': expected an integer, got 'abc'"),
        ("GET", "/events?limit=1.5", "'limit': expected an integer, got '1.5'"),
        # The real range (1..10000): 0 is refused too, so "must not be negative" would mislead.
        ("GET", "/events?limit=-1", "'limit': -1 is out of range (must be between 1 and 10000)"),
        ("GET", "/events?limit=0", "'limit': 0 is out of range (must be between 1 and 10000)"),
        ("GET", "/events?limit=10001", "'limit': 10001 is out of range (must be between 1 and 10000)"),
        ("DELETE", "/cards/tag1?bus=air", "'bus': must be one of program, preview; got 'air'"),
    ],
)
async def test_a_bad_query_parameter_is_a_400_worded_as_a_body_field(
    server: Server, method: str, path: str, words: str
) -> None:
    status, answer = await server.api(method, "/api/shows/test-show" + path)
    assert status == 400 and answer["error"] == words, answer


def test_a_range_from_zero_says_not_negative() -> None:
    """Only a range that starts at 0 is "must not be negative" (a price of -1)."""
    with pytest.raises(ValueError, match=r"must not be negative: between 0 and 1e\+07"):
        InRange(0, MAX_PRICE).check(-1)
    with pytest.raises(ValueError, match=r"-1 is out of range \(must be between 1 and 5\)"):
        InRange(1, 5).check(-1)


async def test_null_still_means_the_default(server: Server) -> None:
    """Bodies that accepted null for 'the default' still do (take: cut; layout: single)."""
    assert (await server.api("POST", "/api/shows/test-show/cut", json={"studio": "alpha"}))[0] == 200
    assert (await server.api("POST", "/api/shows/test-show/preview", json={"studio": "bravo"}))[0] == 200
    status, answer = await server.api("POST", "/api/shows/test-show/take", json={"transition": None})
    assert status == 200, answer
    status, answer = await server.api("POST", "/api/shows/test-show/layout", json={"layout": None})
    assert status == 200, answer


async def test_a_body_that_is_not_json_is_a_400(server: Server) -> None:
    headers = {**server.auth, "Content-Type": "application/json"}
    url = server.url + "/api/shows/test-show/cut"
    async with aiohttp.ClientSession() as http, http.post(url, data=b"{", headers=headers) as res:
        assert res.status == 400 and "not valid JSON" in (await res.json())["error"]


@pytest.mark.parametrize(
    "path, signed_in",
    [("/api/login", False), ("/api/shows/test-show/cut", True), ("/api/shows/test-show/products/import", True)],
)
async def test_a_deeply_nested_body_is_a_400_not_a_500(server: Server, path: str, signed_in: bool) -> None:
    """~2 KB of brackets made json.loads raise RecursionError: a 500 and a traceback per request."""
    deep = b'{"token": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    headers = {**(server.auth if signed_in else {}), "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http, http.post(server.url + path, data=deep, headers=headers) as res:
        assert res.status == 400, await res.text()
        assert "nested too deeply" in (await res.json())["error"]


def test_the_document_takes_request_bodies_from_the_models() -> None:
    from orchestrator import bodies, openapi
    from orchestrator.store import ShowState

    paths = openapi.document()["paths"]
    for method, path, model in [
        ("post", "/api/shows/{show}/take", bodies.TakeBody),
        ("patch", "/api/shows/{show}/products/{product}", bodies.ProductPatch),
        ("post", "/api/shows/{show}/cards", bodies.CardBody),
        ("put", "/api/shows/{show}/rundown", bodies.RundownBody),
    ]:
        schema = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert schema == openapi.model_schema(model), path
    price = openapi.model_schema(bodies.ProductPatch)["properties"]["price"]
    assert (price["minimum"], price["maximum"], price["type"]) == (0, MAX_PRICE, ["number", "null"])
    shown = openapi.document()["components"]["schemas"]["ShowState"]
    assert set(shown["required"]) == {f.name for f in dataclasses.fields(ShowState)}


# Path parameters for the walk below: real ones, so a request gets as far as its body check.
WALK_PARAMS = {
    **{"show": "test-show", "studio": "alpha", "product": "soup", "slot": "main"},
    **{"alarm": "x", "name": "x", "talk": "x"},
}


def _json_body_routes() -> list[tuple[str, str]]:
    """Every /api operation of the route table that takes a JSON body (from the document)."""
    from orchestrator import openapi
    from orchestrator.routes import ENDPOINTS

    paths = openapi.document(ENDPOINTS)["paths"]
    found = [
        (method.upper(), path)
        for path, entries in paths.items()
        if path.startswith("/api/")
        for method, entry in entries.items()
        if "application/json" in entry.get("requestBody", {}).get("content", {})
    ]
    assert len(found) > 25  # the walk must not go quietly empty
    return found


async def test_every_json_body_refuses_a_field_it_does_not_know(server: Server) -> None:
    """A user trial found /cut, /preview, /cue and /login ignoring unknown fields while the rest
    refused them: every body, the import's wrapper included, now answers 400 naming the field."""
    for method, path in _json_body_routes():
        url = path.format(**WALK_PARAMS)
        status, answer = await server.api(method, url, json={"studo": "alpha"})  # a misspelt key
        assert status == 400, (method, path, status, answer)
        assert answer["error"].startswith("'studo': unknown field"), (method, path, answer)
    # Known fields still pass with an unknown one beside them: refused too.
    status, answer = await server.api("POST", "/api/shows/test-show/cut", json={"studio": "alpha", "now": True})
    assert status == 400 and answer["error"] == "'now': unknown field", answer
    status, answer = await server.api("POST", "/api/login", json={"token": "x", "remember": True})
    assert status == 400 and "'remember': unknown field" in answer["error"], answer


async def test_every_scene_command_answers_the_same_show_view(server: Server) -> None:
    """/cut and /preview answered the stored state, /take and /panic the mixer view: now all the same."""
    api = "/api/shows/test-show"
    commands = [
        ("/cut", {"studio": "alpha"}),
        ("/preview", {"studio": "bravo"}),
        ("/take", {"transition": "cut"}),
        ("/layout", {"layout": "single", "studios": ["alpha"]}),
        ("/panic", {}),
        ("/unpanic", {}),
        ("/ftb", {"on": False, "duration_ms": 0}),
        ("/tbar", {"position": 0.2}),
        ("/audio/alpha", {"gain_db": -3.0}),
        ("/fallback-policy", {"policy": "manual"}),
    ]
    keys = None
    version = 0
    for path, body in commands:
        status, answer = await server.api("POST", api + path, json=body)
        assert status == 200, (path, answer)
        assert keys is None or set(answer) == keys, (path, sorted(set(answer) ^ keys))
        keys = set(answer)
        assert answer["version"] > version, path  # each answer is the state it stored
        version = answer["version"]
    assert keys is not None and {"version", "program", "preview", "layout", "audio", "panic"} <= keys
    status, answer = await server.api("POST", api + "/cut", json={"studio": "bravo"})
    assert (answer["program"], answer["preview"]) == ("bravo", "alpha"), answer
