"""Every JSON answer is its model's: the route table walked against a running server.

The OpenAPI document names each operation's answer model (orchestrator/answers/); the views
answer through those models (``views.answer.answer``). These tests walk the route table
itself (not the document's list, so a GET route the document forgets is caught too), call
every GET that answers JSON with operator credentials, and validate each body against the
model the document names for it: a field the view stops sending, or sends with another type,
fails here.
"""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import BaseModel, ValidationError

from orchestrator import answers, openapi
from orchestrator.endpoint import JSON
from orchestrator.routes import routes
from orchestrator.views.answer import STRICT_ENV, answer, shape
from tests.conftest import Server

ROOT = Path(__file__).resolve().parents[2]
# Path parameters that exist in the test show (tests/conftest.py's make_config).
KNOWN = {"show": "test-show"}


def _answer_model(doc: dict[str, Any], method: str, path: str) -> type[BaseModel] | None:
    """The model the document names for the route's success answer, if it is JSON."""
    responses = doc["paths"][path][method.lower()]["responses"]
    success = next((answer for status, answer in responses.items() if status.startswith("2")), {})
    schema = success.get("content", {}).get(JSON, {}).get("schema")  # none: a stream, SDP, a page
    if schema is None:
        return None
    name = schema["$ref"].rpartition("/")[2]
    model = getattr(answers, name)  # every answer component is a model of orchestrator.answers
    assert isinstance(model, type) and issubclass(model, answers.Answer), name
    return model


def _json_gets(doc: dict[str, Any]) -> list[tuple[str, type[BaseModel]]]:
    """(path template, answer model) of every GET route of the table that answers JSON."""
    found = []
    for route in routes:
        if not isinstance(route, web.RouteDef) or route.method != "GET":
            continue
        path = openapi.template(route.path)
        model = _answer_model(doc, "GET", path)
        if model is not None:
            found.append((path, model))
    return found


def _undeclared(value: Any, where: str = "") -> list[str]:
    """Paths of the fields in ``value`` (a validated answer) that its model does not declare."""
    if isinstance(value, BaseModel):
        extra = [f"{where}.{name}" for name in value.model_extra or {}]
        fields = type(value).model_fields
        return extra + [p for name in fields for p in _undeclared(getattr(value, name), f"{where}.{name}")]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _undeclared(item, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [p for k, item in value.items() for p in _undeclared(item, f"{where}[{k!r}]")]
    return []


# Models whose answers carry more than they declare, on purpose: each output kind adds its own counters.
OPEN = {"outputs", "recording", "whep", "hls", "flv", "rtmp"}


async def _some_of_everything(server: Server) -> None:
    """A card on air, a cue, a lower third, a product edit: so lists and optional parts are not empty."""
    show = "/api/shows/test-show"
    for method, path, body in (
        ("POST", "/cards", {"product": "soup"}),
        ("POST", "/studios/alpha/cue", {"product": "soup", "message": "准备 ready"}),
        ("POST", "/lower-third", {"studio": "alpha", "text": "北京 Alpha"}),
        ("PATCH", "/products/soup", {"promo": "今日特价"}),
    ):
        status, answer = await server.api(method, show + path, json=body)
        assert status == 200, (path, answer)


async def test_every_json_get_of_the_route_table_answers_its_documented_model(server: Server) -> None:
    await _some_of_everything(server)
    doc = openapi.document()
    checked: dict[str, list[str]] = {}
    for path, model in _json_gets(doc):
        assert set(_params(path)) <= set(KNOWN), f"{path}: add its parameters to KNOWN"
        status, body = await server.api("GET", path.format(**KNOWN))
        assert status == 200, (path, body)
        validated = model.model_validate(body)  # raises on a missing field or a wrong type
        # Nothing lost or changed on the way through the model (what `answer` sends is this).
        assert json.loads(validated.model_dump_json(by_alias=True, exclude_unset=True)) == body, path
        checked[path] = _undeclared(validated)
    assert {"/healthz", "/api/me", "/api/shows/{show}", "/api/shows/{show}/products"} <= set(checked)
    assert len(checked) >= 15, sorted(checked)
    # Drift the other way: a field the view sends and the model does not declare (outside the
    # outputs, whose kinds add their own counters) must be added to the model.
    undeclared = {path: [p for p in found if not OPEN & set(_parts(p))] for path, found in checked.items()}
    left = {path: found for path, found in undeclared.items() if found}
    assert left == {}, json.dumps(left, indent=1)


def _params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def _parts(field_path: str) -> list[str]:
    return [p.split("[")[0] for p in field_path.split(".") if p]


async def test_refusals_answer_the_error_model(server: Server) -> None:
    status, body = await server.api("GET", "/api/shows/no-such-show")
    assert status == 404
    assert answers.Error.model_validate(body).error == "no show 'no-such-show'" and set(body) == {"error"}


def test_only_the_answer_helper_builds_json_answers() -> None:
    """No view writes a JSON body by hand (``web.json_response``): it would bypass its model."""
    offenders = []
    for path in sorted((ROOT / "orchestrator").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "json_response":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_an_answer_that_drifted_is_logged_and_sent_as_built(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Outside the tests a body that does not fit its model is our bug found after the change was
    made: the client still gets what the show built (no 500 for a command that happened)."""
    drifted = {"alarms": [{"id": 7}]}  # an alarm without its fields
    with pytest.raises(ValidationError):
        shape(answers.AlarmList, drifted)  # the tests: strict
    monkeypatch.setenv(STRICT_ENV, "0")
    with caplog.at_level(logging.ERROR, logger="orchestrator.views.answer"):
        response = answer(shape(answers.AlarmList, drifted))
    assert response.status == 200 and json.loads(response.text or "") == drifted
    assert "does not fit AlarmList" in caplog.text
