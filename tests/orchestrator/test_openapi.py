"""GET /api/openapi.json: complete (every /api route), valid OpenAPI 3.1, and true to the server.

The last test fuzzes every /api operation of the running server with Schemathesis
(valid and invalid requests, a fixed seed) and fails on any 5xx: handlers must
answer bad input with a domain error (4xx), never crash.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pydantic import BaseModel
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import response_schema_conformance

from orchestrator import answers, openapi
from orchestrator.app import create_app
from orchestrator.appkeys import OPENAPI
from orchestrator.endpoint import JSON, Endpoint
from orchestrator.productimport import MAX_PRODUCTS
from orchestrator.routedoc import RouteProse, parse_prose
from orchestrator.routes import ENDPOINTS, routes
from orchestrator.sessions import COOKIE
from tests.conftest import OPERATOR, Server, make_config

AUTH = {"Authorization": f"Bearer {OPERATOR}"}
# Path parameters that exist in the test show, so valid requests get past the 404 and into the handler.
KNOWN = {"show": "test-show", "studio": "alpha", "product": "soup", "source": "program"}
EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 15}
# No 5xx ever; and what the document says a response looks like is what the server sends.
CHECKS = [not_a_server_error, response_schema_conformance]
FUZZ_SECONDS = 480  # ~30 s on a quiet 2-core box, >150 s at load 20; inside its own test timeout (600 s)


def test_every_api_route_is_in_the_document_with_its_method() -> None:
    assert openapi.undocumented(ENDPOINTS) == [], "describe these routes in orchestrator/routes.md"
    assert openapi.stale(ENDPOINTS) == [], "these routes.md entries have no route any more"
    paths = openapi.document(ENDPOINTS)["paths"]
    api = [(r.method, r.path) for r in routes if r.path.startswith("/api/")]
    assert len(api) > 30
    for method, path in api:
        entry = paths[path][method.lower()]
        assert entry["summary"] and "x-undocumented" not in entry, (method, path)
        assert entry["responses"], (method, path)


def test_the_document_and_the_route_table_hold_the_same_routes(tmp_path: Path) -> None:
    """Every route the app serves (not only /api) is described, and nothing else is."""
    app = create_app(make_config(tmp_path))
    served = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource and r.method != "HEAD"}
    doc = app[OPENAPI]
    in_table = {(r.method, openapi.template(r.path)) for r in routes if isinstance(r, web.RouteDef)}
    in_document = {(method.upper(), path) for path, entries in doc["paths"].items() for method in entries}
    assert in_document == in_table == served
    assert openapi.undocumented(ENDPOINTS) == [] and openapi.stale(ENDPOINTS) == []
    assert not [key for key, entry in _entries(doc) if "x-undocumented" in entry]


def test_a_route_without_its_prose_or_prose_without_its_route_stops_the_document() -> None:
    """routes.md and the route table move together: the app factory cannot build a document otherwise."""
    new = Endpoint("GET", "/api/shows/{show}/new", ENDPOINTS[0].handler, answers.Show)
    assert openapi.undocumented([*ENDPOINTS, new]) == [("GET", "/api/shows/{show}/new")]
    with pytest.raises(openapi.UndescribedRoutes, match="new"):
        openapi.document([*ENDPOINTS, new])
    assert openapi.stale(ENDPOINTS[1:]) == [(ENDPOINTS[0].method, ENDPOINTS[0].path)]
    with pytest.raises(openapi.UndescribedRoutes, match="healthz"):
        openapi.document(ENDPOINTS[1:])


def test_the_prose_holds_the_code_s_figures() -> None:
    """``${NAME}`` in routes.md is the code's value; an unknown name or an entry without a summary fails."""
    paths = openapi.document()["paths"]
    assert f"Sets `{COOKIE}`" in paths["/api/login"]["post"]["description"]
    assert f"Up to {MAX_PRODUCTS} rows" in paths["/api/shows/{show}/products/import"]["post"]["description"]
    assert parse_prose("# T\n\nIntro\n\n## tag\n\n### GET /x\n\nSum\nmary\n\nMore.\n").operations == {
        ("GET", "/x"): RouteProse("tag", "Sum mary", "More.")
    }
    with pytest.raises(KeyError):
        parse_prose("# T\n\n## tag\n\n### GET /x\n\n${NOT_A_VALUE}\n")
    with pytest.raises(ValueError, match="no summary"):
        parse_prose("# T\n\n## tag\n\n### GET /x\n")


def _entries(doc: dict[str, Any]) -> list[tuple[tuple[str, str], dict[str, Any]]]:
    return [((m.upper(), p), e) for p, entries in doc["paths"].items() for m, e in entries.items()]


def test_every_json_schema_is_generated_from_a_model() -> None:
    """No hand-written answer or body: each JSON one is a model's (orchestrator/answers/, bodies.py)."""
    doc = openapi.document(ENDPOINTS)
    for key, op in openapi.OPERATIONS.items():
        if op.answer is not None and op.media == JSON:
            assert isinstance(op.answer, type) and issubclass(op.answer, BaseModel), key
        if isinstance(op.body, type):
            assert issubclass(op.body, BaseModel), key
        content = doc["paths"][key[1]][key[0].lower()].get("requestBody", {}).get("content", {})
        assert {media: c["schema"] for media, c in content.items()} == {
            media: openapi.model_schema(model) for media, model in op.contents.items()
        }, key
    components = doc["components"]["schemas"]
    for key, entry in _entries(doc):
        for answer in entry["responses"].values():
            schema = answer.get("content", {}).get(JSON, {}).get("schema")
            if schema is not None:  # a reference to a model's component, never an inline object
                assert set(schema) == {"$ref"}, key
                assert schema["$ref"].rpartition("/")[2] in components, key
    # The answers the control page and clients read most, from the models.
    assert components["Mixer"] == openapi.response_schema(answers.Mixer)
    assert components["Show"] == openapi.response_schema(answers.Show)


def test_every_scene_command_is_documented_with_the_same_answer() -> None:
    paths = openapi.document(ENDPOINTS)["paths"]
    scene = ["cut", "preview", "take", "layout", "panic", "unpanic", "ftb", "tbar", "fallback-policy"]
    for name in scene:
        answer = paths[f"/api/shows/{{show}}/{name}"]["post"]["responses"]["200"]["content"]["application/json"]
        assert answer["schema"] == {"$ref": "#/components/schemas/Mixer"}, name
    audio = paths["/api/shows/{show}/audio/{studio}"]["post"]["responses"]["200"]["content"]["application/json"]
    assert audio["schema"] == {"$ref": "#/components/schemas/Mixer"}


async def test_every_read_answers_what_its_model_says(server: Server) -> None:
    """Each GET of /api (JSON) against its answer model, field by field: the model is the answer."""
    checked = []
    for (method, path), op in openapi.OPERATIONS.items():
        if method != "GET" or not path.startswith("/api/") or op.media != JSON or not op.fuzz:
            continue
        status, answer = await server.api("GET", path.format(**KNOWN))
        assert status == 200, (path, answer)
        assert isinstance(op.answer, type) and issubclass(op.answer, BaseModel)
        model = op.answer.model_validate(answer)  # raises on a missing field or a wrong type
        assert set(model.model_dump(by_alias=True, exclude_unset=True)) <= set(answer), path
        checked.append(path)
    assert "/api/shows/{show}" in checked and len(checked) >= 10, checked


def test_roles_and_security_follow_the_auth_policy() -> None:
    paths = openapi.document(ENDPOINTS)["paths"]
    cut = paths["/api/shows/{show}/cut"]["post"]
    assert cut["x-role"] == "director" and "403" in cut["responses"] and "director only" in cut["description"]
    card = paths["/api/shows/{show}/cards"]["post"]
    assert card["x-role"] == "producer" and "producer or director" in card["description"]
    assert paths["/api/shows/{show}"]["get"]["x-role"] == "producer"
    assert paths["/api/openapi.json"]["get"]["security"] == []
    assert paths["/api/login"]["post"]["security"] == []
    doc = openapi.document(ENDPOINTS)
    assert doc["security"] == [{"bearerAuth": []}, {"cookieAuth": []}]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["cookieAuth"]["in"] == "cookie" and schemes["cookieAuth"]["name"] == "broadcast_session"
    take = paths["/api/shows/{show}/take"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert take["properties"]["transition"]["enum"] == ["cut", "fade", "wipe", "slide"]
    audio = paths["/api/shows/{show}/audio/{studio}"]["post"]["requestBody"]["content"]["application/json"]
    gain = audio["schema"]["properties"]["gain_db"]
    assert (gain["minimum"], gain["maximum"]) == (-60, 12)


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = openapi.document(ENDPOINTS)
    assert doc["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    results = list(schema.get_all_operations())
    errors = [str(r.err()) for r in results if isinstance(r, Err)]
    assert errors == []
    assert len(results) == len(routes)


async def test_the_document_is_served_without_credentials(server: Server) -> None:
    async with aiohttp.ClientSession() as http, http.get(server.url + "/api/openapi.json") as res:
        assert res.status == 200
        assert res.content_type == "application/json"
        assert await res.json() == openapi.document()


def _use_known_ids(case: Any) -> None:
    """Point a valid body at the test show's studios and product, so it reaches past the 404s."""
    body = case.body
    if not isinstance(body, dict):
        return
    if isinstance(body.get("studio"), str):
        body["studio"] = "bravo"
    if isinstance(body.get("product"), str):
        body["product"] = "soup"
    if isinstance(body.get("studios"), list):
        body["studios"] = ["alpha", "bravo"][: len(body["studios"])]
    elif isinstance(body.get("studios"), dict):
        body["studios"] = dict(zip(["alpha", "bravo"], body["studios"].values(), strict=False))


def _baseline(http: requests.Session, base_url: str) -> None:
    """Alpha on program, bravo on preview, no panic: so take, layout and the rest have something to work on."""
    show = f"{base_url}/api/shows/test-show"
    for path, body in (("/unpanic", {}), ("/cut", {"studio": "alpha"}), ("/preview", {"studio": "bravo"})):
        assert http.post(show + path, json=body, headers=AUTH, timeout=30).status_code == 200, path


class Fuzzer:
    """Runs Schemathesis cases against the live server from a worker thread (requests is synchronous)."""

    def __init__(self, base_url: str, http: requests.Session) -> None:
        self.base_url = base_url
        self.http = http
        self.calls = 0

    def run(self, op: Any, mode: GenerationMode) -> None:
        """Up to EXAMPLES[mode] requests to ``op``; raises what the checks found (shrunk to the simplest case)."""
        known = {p.name: KNOWN[p.name] for p in op.path_parameters if p.name in KNOWN}
        strategy = op.as_strategy(mode, path_parameters=known, headers=dict(AUTH))
        positive = mode is GenerationMode.POSITIVE

        @settings(
            max_examples=EXAMPLES[mode],
            derandomize=True,  # a fixed seed: the same requests every run
            database=None,
            deadline=None,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(case=strategy, known_ids=st.booleans())
        def call(case: Any, known_ids: bool) -> None:
            self.calls += 1
            if known_ids and positive:
                _use_known_ids(case)
            response = case.call(base_url=self.base_url, session=self.http, headers=dict(AUTH), timeout=30)
            case.validate_response(response, checks=CHECKS)

        call()


def _fuzz(base_url: str) -> tuple[list[str], int]:
    """Every fuzzable /api operation, valid and invalid input; returns the failures and the request count."""
    schema = schemathesis.openapi.from_url(base_url + "/api/openapi.json")
    schema.validate()
    failures: list[str] = []
    deadline = time.monotonic() + FUZZ_SECONDS
    with requests.Session() as http:
        fuzzer = Fuzzer(base_url, http)
        for result in schema.get_all_operations():
            op = result.ok()
            if not op.path.startswith("/api/") or op.definition.raw.get("x-fuzz") is False:
                continue
            _baseline(http, base_url)
            for mode in EXAMPLES:
                assert time.monotonic() < deadline, f"fuzzing took over {FUZZ_SECONDS} s; reached {op.label}"
                try:
                    fuzzer.run(op, mode)
                except Unsatisfiable:
                    # Nothing to make invalid: no body or query, and the path parameters are fixed.
                    assert mode is GenerationMode.NEGATIVE, op.label
                except (Exception, BaseExceptionGroup) as exc:  # collect them all, report once
                    failures.append(f"{op.label} ({mode.value}): {exc}")
    return failures, fuzzer.calls


@pytest.mark.timeout(600)
async def test_fuzzing_every_api_operation_finds_no_server_error(server: Server) -> None:
    failures, calls = await asyncio.to_thread(_fuzz, server.url)
    assert not failures, "\n\n".join(failures)
    assert calls > 300
    # The server is still healthy after the whole run.
    status, state = await server.api("GET", "/api/shows/test-show")
    assert status == 200 and state["show"] == "test-show"


BIG = "1" + "0" * 400  # a JSON integer beyond any float


def _import_row(name: str, price: str) -> str:
    return '[{"id": "x", "name": "' + name + '", "enterprise": "e", "price": ' + price + "}]"


async def test_what_the_fuzzer_broke_is_refused_with_400(server: Server) -> None:
    """Each of these answered 500 before (found by the fuzzing above); now each is a 400 and nothing changed."""
    show = server.url + "/api/shows/test-show"
    cases = [
        ("PATCH", "/products/soup", '{"price": 1.5e307}'),  # price * 100 overflowed in the fen check
        ("PATCH", "/products/soup", '{"price": ' + BIG + "}"),  # float(price) overflowed
        ("POST", "/audio/alpha", '{"gain_db": ' + BIG + "}"),  # math.isfinite overflowed
        ("POST", "/products/import", _import_row("n", BIG)),  # float(price) overflowed
        # A line break made the card's text layout fail whenever the product went on air.
        ("POST", "/products/import", _import_row("a\\u001eb", "1")),
        ("POST", "/products/import", _import_row("a\\nb", "1")),
        ("PATCH", "/products/soup", '{"promo": "a\\u2029b"}'),
        ("POST", "/lower-third", '{"studio": "alpha", "text": "a\\rb"}'),
        # A port that does not parse: the destination was added, then every status (and /metrics) failed.
        ("POST", "/outputs/rtmp", '{"name": "cdn-a", "url": "rtmp://cdn.example.org:abc/app/key"}'),
        ("POST", "/outputs/rtmp", '{"name": "cdn-b", "url": "rtmp://cdn.example.org:99999/app/key"}'),
    ]
    headers = {**server.auth, "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as http:
        for method, path, body in cases:
            async with http.request(method, show + path, data=body) as res:
                assert res.status == 400, (method, path, body, await res.text())
                assert "error" in await res.json()
        for path in ("/outputs", "/products", ""):
            async with http.get(show + path) as res:
                assert res.status == 200, path
        async with http.get(server.url + "/metrics") as res:
            assert res.status == 200
    status, products = await server.api("GET", "/api/shows/test-show/products")
    assert [p["id"] for p in products["products"]] == ["soup"] and products["products"][0]["promo"] == ""
    status, _ = await server.api("POST", "/api/shows/test-show/cards", json={"product": "soup"})
    assert status == 200
