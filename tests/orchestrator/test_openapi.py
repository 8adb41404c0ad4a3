"""GET /api/openapi.json: complete (every /api route), valid OpenAPI 3.1, and true to the server.

The last test fuzzes every /api operation of the running server with Schemathesis
(valid and invalid requests, a fixed seed) and fails on any 5xx: handlers must
answer bad input with a domain error (4xx), never crash.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err

from orchestrator import openapi
from orchestrator.routes import routes
from tests.conftest import OPERATOR, Server

AUTH = {"Authorization": f"Bearer {OPERATOR}"}
# Path parameters that exist in the test show, so valid requests get past the 404 and into the handler.
KNOWN = {"show": "test-show", "studio": "alpha", "product": "soup", "source": "program"}
EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 15}
CHECKS = [not_a_server_error]
FUZZ_SECONDS = 150  # the whole run must stay well inside the suite's per-test timeout


def test_every_api_route_is_in_the_document_with_its_method() -> None:
    assert openapi.undocumented(routes) == [], "add these routes to orchestrator.openapi.OPERATIONS"
    assert openapi.stale(routes) == [], "these OPERATIONS entries have no route any more"
    paths = openapi.document(routes)["paths"]
    api = [(r.method, r.path) for r in routes if r.path.startswith("/api/")]
    assert len(api) > 30
    for method, path in api:
        entry = paths[path][method.lower()]
        assert entry["summary"] and "x-undocumented" not in entry, (method, path)
        assert entry["responses"], (method, path)


def test_roles_and_security_follow_the_auth_policy() -> None:
    paths = openapi.document(routes)["paths"]
    cut = paths["/api/shows/{show}/cut"]["post"]
    assert cut["x-role"] == "director" and "403" in cut["responses"] and "director only" in cut["description"]
    card = paths["/api/shows/{show}/cards"]["post"]
    assert card["x-role"] == "producer" and "producer or director" in card["description"]
    assert paths["/api/shows/{show}"]["get"]["x-role"] == "producer"
    assert paths["/api/openapi.json"]["get"]["security"] == []
    assert paths["/api/login"]["post"]["security"] == []
    doc = openapi.document(routes)
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
    doc = openapi.document(routes)
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


def _fuzz(base_url: str) -> tuple[list[str], int]:
    """Every fuzzable /api operation, valid and invalid input; returns the 5xx failures and the request count."""
    schema = schemathesis.openapi.from_url(base_url + "/api/openapi.json")
    schema.validate()
    failures: list[str] = []
    calls = 0
    deadline = time.monotonic() + FUZZ_SECONDS
    with requests.Session() as http:
        for result in schema.get_all_operations():
            op = result.ok()
            if not op.path.startswith("/api/") or op.definition.raw.get("x-fuzz") is False:
                continue
            known = {p.name: KNOWN[p.name] for p in op.path_parameters if p.name in KNOWN}
            for mode, examples in EXAMPLES.items():
                assert time.monotonic() < deadline, f"fuzzing took over {FUZZ_SECONDS} s; reached {op.label}"
                strategy = op.as_strategy(mode, path_parameters=known, headers=dict(AUTH))

                @settings(
                    max_examples=examples,
                    derandomize=True,  # a fixed seed: the same requests every run
                    database=None,
                    deadline=None,
                    phases=[Phase.generate, Phase.shrink],
                    suppress_health_check=list(HealthCheck),
                    print_blob=False,
                )
                @given(case=strategy, known_ids=st.booleans())
                def run(case: Any, known_ids: bool) -> None:
                    nonlocal calls
                    calls += 1
                    if known_ids and mode is GenerationMode.POSITIVE:
                        _use_known_ids(case)
                    response = case.call(base_url=base_url, session=http, headers=dict(AUTH), timeout=30)
                    case.validate_response(response, checks=CHECKS)

                try:
                    run()
                except Unsatisfiable:
                    # Nothing to make invalid: no body or query, and the path parameters are fixed.
                    assert mode is GenerationMode.NEGATIVE, op.label
                except (Exception, BaseExceptionGroup) as exc:  # collect them all, report once
                    failures.append(f"{op.label} ({mode.value}): {exc}")
    return failures, calls


async def test_fuzzing_every_api_operation_finds_no_server_error(server: Server) -> None:
    failures, calls = await asyncio.to_thread(_fuzz, server.url)
    assert not failures, "\n\n".join(failures)
    assert calls > 300
    # The server is still healthy after the whole run.
    status, state = await server.api("GET", "/api/shows/test-show")
    assert status == 200 and state["show"] == "test-show"
