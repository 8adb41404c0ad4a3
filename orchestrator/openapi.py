"""The OpenAPI 3.1 document, generated from the route table, its models and its prose.

Each :class:`~orchestrator.endpoint.Endpoint` of :data:`orchestrator.routes.ENDPOINTS` becomes
one operation: its request and query schemas come from the models the views validate with
(:mod:`orchestrator.bodies`), its answer's from :mod:`orchestrator.answers`, its roles from
:mod:`orchestrator.auth` (the way the middleware decides them), its summary, description and tag
from ``routes.md``. :func:`document` refuses a route without prose and prose without a route
(:class:`UndescribedRoutes`), so the app cannot start with either; the fuzz test checks the
live server against the result.

Served at ``GET /api/openapi.json`` (no credentials needed): the app factory builds it once and
``views/docs.py`` serves it, so no view imports this module (which imports the route table).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from mixer.graphics.director import SLOTS
from mixer.multiview import PROGRAM
from orchestrator import answers
from orchestrator.auth import permission_for, roles_for
from orchestrator.endpoint import JSON, SDP, Credential, Endpoint
from orchestrator.fields import ID_RE
from orchestrator.modelschema import GENERATED, Schema, answer_schema, model_schema, query_schemas, response_schema
from orchestrator.routedoc import RouteProse, read_prose
from orchestrator.routes import ENDPOINTS
from orchestrator.sessions import COOKIE
from orchestrator.store import ShowState

STRING: Schema = {"type": "string"}
ID: Schema = {"type": "string", "pattern": ID_RE.pattern}


class UndescribedRoutes(LookupError):
    """Routes without an entry in routes.md, or entries there without a route (a developer's error)."""


SHOW_STATE = {**response_schema(ShowState), "description": "The show's stored state, as the store keeps it."}
SECURITY_SCHEMES: dict[str, Schema] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "An operator token (server.operator_token or server.operators[].token).",
    },
    "cookieAuth": {
        "type": "apiKey",
        "in": "cookie",
        "name": COOKIE,
        "description": "The signed session cookie that POST /api/login sets (the control page uses it).",
    },
    "joinToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A studio's signed join token (GET /api/shows/{show}/links, `broadcast links`).",
    },
    "viewerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "Only when the show sets outputs.whep_viewer_token.",
    },
}
OPERATOR_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"cookieAuth": []}]
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "none": [],
    "join": [{"joinToken": []}],
    "viewer": [{}, {"viewerToken": []}],
}  # else OPERATOR_SECURITY

# Path parameters, by name; an endpoint may override one (Endpoint.params).
PATH_PARAMS: dict[str, Schema] = {
    "show": {**ID, "examples": ["wuhan-0510"]},
    "studio": {**ID, "examples": ["beijing"]},
    "product": {"type": "string", "minLength": 1, "examples": ["soup"]},
    "slot": {"enum": list(SLOTS)},
    "source": {"type": "string", "minLength": 1, "description": f"`{PROGRAM}` or a studio id"},
    "name": {"type": "string", "minLength": 1},
    "token": {"type": "string", "minLength": 1, "description": "a studio's join token"},
    "session": {"type": "string", "minLength": 1},
    "viewer": {"type": "string", "minLength": 1},
}

STATUS_TEXT = {
    101: "Switching Protocols (WebSocket)",
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad request: the body, a field or a query parameter is wrong",
    401: "Not signed in, or the token or session is not valid",
    403: "Signed in, but the role or show may not do this (or a cross-site request)",
    404: "No such show (or studio, product, slot, ...)",
    405: "Method not allowed",
    409: "Conflicts with the show's state",
    412: "If-Match does not match",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Unprocessable (ICE restart)",
    428: "If-Match required",
    429: "Too many wrong credentials: wait Retry-After seconds",
    503: "State store unavailable (nothing changed) or no capacity",
}
ROLE_NOTES = {
    "none": "No credentials needed.",
    "operator": "Any signed-in operator.",
    "join": "The studio's join token (`Authorization: Bearer`), for this show and studio.",
    "viewer": "A viewer token only when the show sets `outputs.whep_viewer_token`.",
    "producer,director,links": "Role: any operator (producer, links or director).",
    "producer,director": "Role: producer or director (a producer write: cards, products, rundown, graphics, cues).",
    "director,links": "Role: director or links (join links, QR codes, kick, reissue); a producer gets 403.",
}


def template(path: str) -> str:
    """aiohttp's ``{name:regex}`` as OpenAPI's ``{name}``."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)


def resolved(endpoint: Endpoint) -> Endpoint:
    """The endpoint with what it leaves to the policy filled in: ``auth`` (or "role") and ``fuzz``."""
    auth: Credential = endpoint.auth or ("none" if permission_for(endpoint.method, endpoint.path) is None else "role")
    streams = endpoint.status == 101 or SDP in endpoint.contents
    fuzz = endpoint.fuzz if endpoint.fuzz is not None else endpoint.path.startswith("/api/") and not streams
    return dataclasses.replace(endpoint, path=template(endpoint.path), auth=auth, fuzz=fuzz)


# (method, path) -> the endpoint, its defaults resolved: what the document says of each route.
OPERATIONS: dict[tuple[str, str], Endpoint] = {(e.method, template(e.path)): resolved(e) for e in ENDPOINTS}


def needed_role(method: str, path: str) -> str:
    """The least role that may call a route: "producer" if a producer may, else "director"."""
    return "producer" if any(r.value == "producer" for r in roles_for(method, path)) else "director"


def _role_note(endpoint: Endpoint) -> str:
    roles = ",".join(r.value for r in roles_for(endpoint.method, endpoint.path))
    key = roles if endpoint.auth == "role" else str(endpoint.auth)
    return ROLE_NOTES.get(key, "Role: director only (a producer gets 403).")


def _body_required(contents: dict[str, Any]) -> bool:
    """Text bodies always; a JSON one unless ``{}`` would do (no required field, no minimum)."""
    if set(contents) != {JSON}:
        return True
    schema = model_schema(contents[JSON])
    return any(key in schema for key in ("required", "minProperties", "anyOf"))


def _answer_content(endpoint: Endpoint) -> Schema:
    if isinstance(endpoint.answer, type):
        return {JSON: {"schema": answer_schema(endpoint.answer)}}
    media = endpoint.media
    binary = media.startswith("image/")
    return {media: {"schema": {**STRING, "contentMediaType": media} if binary else STRING}} if media else {}


def _error_codes(endpoint: Endpoint, has_input: bool) -> set[int]:
    """What a call can get besides its success: its own errors and those of its kind."""
    codes = set(endpoint.errors)
    codes |= {400} if has_input else set()
    codes |= {401} if endpoint.auth != "none" else set()
    codes |= {403, 429} if endpoint.auth in ("role", "operator") else set()  # role or show; guessing tokens
    codes |= {403} if endpoint.auth == "join" else set()
    codes |= {404} if "{" in endpoint.path and endpoint.method != "OPTIONS" else set()
    return codes - {endpoint.status}


def operation(endpoint: Endpoint, prose: RouteProse) -> Schema:
    """One route's OpenAPI operation (``endpoint`` resolved, see :func:`resolved`)."""
    method, path = endpoint.method, endpoint.path
    names = re.findall(r"\{(\w+)\}", path)
    parameters = [
        {"name": n, "in": "path", "required": True, "schema": endpoint.params.get(n) or PATH_PARAMS.get(n, STRING)}
        for n in names
    ]
    query = query_schemas(endpoint.query) if endpoint.query is not None else {}
    parameters += [{"name": n, "in": "query", "required": False, "schema": s} for n, s in query.items()]
    result: Schema = {
        "operationId": method.lower() + "_" + re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_"),
        "summary": prose.summary,
        "description": " ".join(x for x in (prose.description, _role_note(endpoint)) if x),
        "tags": [prose.tag],
        "security": SECURITY.get(str(endpoint.auth), OPERATOR_SECURITY),
    }
    if endpoint.auth == "role":
        result["x-role"] = needed_role(method, path)
        result["x-roles"] = [r.value for r in roles_for(method, path)]
    if not endpoint.fuzz:
        result["x-fuzz"] = False
    if parameters:
        result["parameters"] = parameters
    contents = endpoint.contents
    if contents:
        schemas = {media: {"schema": model_schema(model)} for media, model in contents.items()}
        result["requestBody"] = {"required": _body_required(contents), "content": schemas}
    ok: Schema = {"description": STATUS_TEXT.get(endpoint.status, "OK")}
    if content := _answer_content(endpoint):
        ok["content"] = content
    if endpoint.headers:
        ok["headers"] = {name: {"description": text, "schema": STRING} for name, text in endpoint.headers.items()}
    error = {JSON: {"schema": answer_schema(answers.Error)}}
    result["responses"] = {str(endpoint.status): ok} | {
        str(code): {"description": STATUS_TEXT.get(code, "Error"), "content": error}
        for code in sorted(_error_codes(endpoint, bool(contents or query)))
    }
    return result


def _keys(endpoints: Iterable[Endpoint] | None) -> list[tuple[str, str]]:
    return [(e.method, template(e.path)) for e in (ENDPOINTS if endpoints is None else endpoints)]


def undocumented(endpoints: Iterable[Endpoint] | None = None) -> list[tuple[str, str]]:
    """Routes of the table (the app's by default) that routes.md does not describe."""
    described = read_prose().operations
    return [key for key in _keys(endpoints) if key not in described]


def stale(endpoints: Iterable[Endpoint] | None = None) -> list[tuple[str, str]]:
    """Entries of routes.md whose route is not in the table (the app's by default)."""
    present = set(_keys(endpoints))
    return sorted(key for key in read_prose().operations if key not in present)


def _version() -> str:
    try:
        return metadata.version("broadcast-orchestrator")
    except metadata.PackageNotFoundError:
        return "0"


def document(endpoints: Iterable[Endpoint] | None = None) -> Schema:
    """The OpenAPI 3.1 document of the route table (the app's own by default).

    Raises :class:`UndescribedRoutes` naming the routes without prose and the prose without a route.
    """
    table = list(ENDPOINTS if endpoints is None else endpoints)
    missing, gone = undocumented(table), stale(table)
    if missing or gone:
        raise UndescribedRoutes(f"routes.md lacks {missing} and describes routes that are gone: {gone}")
    prose = read_prose()
    paths: dict[str, dict[str, Schema]] = {}
    for endpoint in map(resolved, table):
        entry = operation(endpoint, prose.operations[endpoint.method, endpoint.path])
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": prose.title, "version": _version(), "description": prose.introduction},
        "tags": [{"name": tag} for tag in sorted({p.tag for p in prose.operations.values()})],
        "security": OPERATOR_SECURITY,
        "paths": paths,
        "components": {
            "schemas": {**GENERATED, "ShowState": SHOW_STATE},
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
