"""The operator API as an OpenAPI 3.1 document, generated from the route table and the models.

Every route of :mod:`orchestrator.routes` goes into the document; what each one takes and
returns is named in :data:`OPERATIONS`, keyed by ``(METHOD, path)``: the request body's and
query's models (:mod:`orchestrator.bodies`, which the views validate with) and the answer's
model (:mod:`orchestrator.answers`). Every schema is generated from those models
(:func:`model_schema`, :func:`answer_schema`), so the document cannot drift from the checks;
the fuzz test checks the live server's answers against it. What stays written here is prose
(summaries, descriptions), the media types of the non-JSON routes (SDP, HLS, FLV, HTML) and
the import's two body shapes. :func:`undocumented` names every route the table has and the
document does not describe, :func:`stale` every entry whose route is gone (the test suite
fails on either). Roles are derived from :mod:`orchestrator.auth` the way it decides them.

Served at ``GET /api/openapi.json`` (no credentials needed): the app factory builds it once
and ``views/docs.py`` serves it, so no view imports this module (which imports the route table).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from mixer.graphics.director import SLOTS
from mixer.multiview import PROGRAM
from mixer.scene import GAIN_DB_MAX, GAIN_DB_MIN
from orchestrator import answers, bodies, catalogue, productimport
from orchestrator.auth import roles_for
from orchestrator.config import Product
from orchestrator.fields import ID_RE
from orchestrator.routes import routes as ROUTES
from orchestrator.sessions import COOKIE, CSRF_HEADER
from orchestrator.store import ShowState

Schema = dict[str, Any]

JSON = "application/json"
SDP = "application/sdp"
SDPFRAG = "application/trickle-ice-sdpfrag"


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Schema], required: Iterable[str] = (), closed: bool = False, **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    schema.update(extra)
    return schema


class _OpenApiJsonSchema(GenerateJsonSchema):
    """pydantic's JSON Schema, with ``X | None`` as ``type: [x, "null"]`` where it can be (flat ranges)."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        if isinstance(inner.get("type"), str) and "$ref" not in inner:
            return {**inner, "type": [inner["type"], "null"]}
        return {"anyOf": [inner, {"type": "null"}]}


REF_TEMPLATE = "#/components/schemas/{model}"
GENERATED: dict[str, Schema] = {}  # components the models refer to ($defs), filled as schemas are made


def model_schema(model: type[BaseModel] | Any) -> Schema:
    """The JSON Schema of a model (a BaseModel, or any type pydantic knows), inline, for a request body.

    What the model refers to goes to the document's components (:data:`GENERATED`).
    """
    if isinstance(model, type) and issubclass(model, BaseModel):
        schema = model.model_json_schema(ref_template=REF_TEMPLATE, schema_generator=_OpenApiJsonSchema)
    else:
        schema = TypeAdapter(model).json_schema(ref_template=REF_TEMPLATE, schema_generator=_OpenApiJsonSchema)
    GENERATED.update(schema.pop("$defs", {}))
    return schema


def query_schemas(model: type[BaseModel]) -> dict[str, Schema]:
    """Each query parameter's schema, from the model the view reads the query string with."""
    properties: dict[str, Schema] = model_schema(model).get("properties", {})
    return {name: {k: v for k, v in schema.items() if k != "title"} for name, schema in properties.items()}


def response_schema(model: Any) -> Schema:
    """The JSON Schema of what the server sends for ``model`` (a dataclass or model): every field."""
    schema = TypeAdapter(model).json_schema(
        mode="serialization", ref_template=REF_TEMPLATE, schema_generator=_OpenApiJsonSchema
    )
    GENERATED.update(schema.pop("$defs", {}))
    return schema


STRING: Schema = {"type": "string"}
ID: Schema = {"type": "string", "pattern": ID_RE.pattern}


# -- components --------------------------------------------------------------------------------------

SCHEMAS: dict[str, Schema] = {
    "ProductRow": {
        **model_schema(Product),
        "description": "One catalogue row of an import (CSV columns have the same names).",
    },
    "ShowState": {**response_schema(ShowState), "description": "The show's stored state, as the store keeps it."},
}


def answer_schema(model: type[BaseModel]) -> Schema:
    """A reference to an answer's model (:mod:`orchestrator.answers`), its schema put in the components."""
    name = model.__name__
    if name not in GENERATED:
        GENERATED[name] = response_schema(model)
    return ref(name)


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

# Path parameters, by name; an operation may override one (Op.params).
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


# -- operations --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """What one route takes and answers."""

    summary: str
    description: str = ""
    body: type[BaseModel] | None = None  # JSON request body: its model (orchestrator/bodies.py)
    body_required: bool = False
    content: dict[str, Schema] | None = None  # request media types other than JSON (replaces `body`)
    query: type[BaseModel] | None = None  # the query string's model
    params: dict[str, Schema] = field(default_factory=dict)  # path parameter overrides
    # The success answer: its model (orchestrator/answers.py) for JSON, a schema for other media.
    response: type[BaseModel] | Schema | None = None
    status: int = 200
    media: str = JSON  # the success answer's media type
    errors: tuple[int, ...] = ()  # besides those every operator call can get (400/401/403/404 as they apply)
    auth: str = "role"  # role: operator, checked per route; operator: any operator; none; join; viewer
    headers: dict[str, str] = field(default_factory=dict)  # success response headers: name -> description
    fuzz: bool = True  # false: streams forever or upgrades (WebSocket): no fuzzing
    tag: str = ""


def _json(schema: Schema, description: str = "") -> Schema:
    return {"description": description or "OK", "content": {JSON: {"schema": schema}}}


IMPORT_JSON = {
    "anyOf": [
        {"type": "array", "items": ref("ProductRow"), "minItems": 1, "maxItems": productimport.MAX_PRODUCTS},
        obj(
            {"products": {"type": "array", "items": ref("ProductRow"), "minItems": 1}},
            ["products"],
        ),
    ]
}

OPERATIONS: dict[tuple[str, str], Op] = {
    # -- this document ---------------------------------------------------------------------------
    ("GET", "/api/openapi.json"): Op(
        "This document (OpenAPI 3.1)",
        "Built from the route table; no credentials needed.",
        response=answers.OpenApiDocument,
        auth="none",
        tag="docs",
    ),
    # -- sessions ------------------------------------------------------------------------------
    ("POST", "/api/login"): Op(
        "Sign in: sets the session cookie",
        f"With an operator token or a name and password. Sets `{COOKIE}` (HttpOnly, SameSite=Strict, 12 h).",
        body=bodies.LoginBody,
        body_required=True,
        response=answers.Operator,
        errors=(401, 403, 429),
        auth="none",
        headers={
            "Set-Cookie": f"{COOKIE}=...; HttpOnly; SameSite=Strict",
            CSRF_HEADER: "the session's CSRF token: send it back on changes (or send JSON bodies)",
        },
    ),
    ("POST", "/api/logout"): Op(
        "Sign out: clears the session cookie",
        body=bodies.EmptyBody,
        response=answers.SignedOut,
        auth="none",
    ),
    ("GET", "/api/me"): Op(
        "Who is signed in",
        response=answers.Operator,
        auth="operator",
        headers={CSRF_HEADER: "signed in by cookie: send it back on changes (or send JSON bodies)"},
    ),
    # -- shows ----------------------------------------------------------------------------------
    ("GET", "/api/shows"): Op(
        "List the shows of this server",
        response=answers.ShowList,
    ),
    ("GET", "/api/cluster"): Op(
        "The cluster: this node, the live nodes with their load, and which node runs which show",
        "Without `server.cluster` every node runs every show: `node` is null and the lists are empty.",
        response=answers.Cluster,
    ),
    ("POST", "/api/shows/{show}/move"): Op(
        "Move the show to another node (planned hand-over)",
        "New node first: `node` prepares the show (program on the slate, no output) and says it is ready; "
        "the node running it then stops its outputs and hands the lease over in one step, and `node` "
        "attaches its outputs (HLS continues with one discontinuity; never two nodes on air). A move "
        "`node` never gets ready for lapses after a minute. Logged as `cluster.move_requested`, `cluster.moving`, "
        "`cluster.placed`. A node that does not run the show redirects (307) to the one that does.",
        body=bodies.MoveBody,
        body_required=True,
        response=answers.Moving,
        errors=(400, 409, 503),
    ),
    ("GET", "/api/shows/{show}"): Op(
        "Show state: program, preview, studios, graphics, mixer, outputs",
        response=answers.Show,
    ),
    ("POST", "/api/shows/{show}/cut"): Op(
        "Cut a studio (or the slate) to program",
        "Hard cut at the next frame; `studio: null` puts the slate on air. Logged as `program.cut`.",
        body=bodies.ProgramBody,
        body_required=True,
        response=answers.Mixer,
        errors=(503,),
    ),
    ("POST", "/api/shows/{show}/preview"): Op(
        "Cue a studio on preview (or clear it with null)",
        "The studio gets the PREVIEW tally and full ingest quality at once. Logged as `preview.set`.",
        body=bodies.ProgramBody,
        body_required=True,
        response=answers.Mixer,
        errors=(503,),
    ),
    ("GET", "/api/shows/{show}/events"): Op(
        "The audit trail, newest last",
        query=bodies.EventsQuery,
        response=answers.EventList,
        errors=(503,),
    ),
    ("GET", "/api/shows/{show}/events.csv"): Op(
        "The audit trail as CSV (UTF-8 with BOM, for spreadsheets)",
        "Columns: time (ISO 8601 in the show's `timezone`), kind, actor, studio, product, slot, price, "
        "on_air_s, detail.",
        response=STRING,
        media="text/csv",
        errors=(503,),
        tag="control page",
    ),
    ("GET", "/api/shows/{show}/links"): Op(
        "Join links for the show's studios",
        "One signed, expiring link per studio: the host page URL and the WHIP URL with its token.",
        response=answers.LinkList,
    ),
    ("GET", "/api/shows/{show}/ws"): Op(
        "Live show state (WebSocket)",
        "Upgrades to a WebSocket that pushes `{type: state, state: Show}` on every change (and each second), "
        "`{type: event, event: Event}` for new audit lines and `{type: warning}` when the store is down. "
        "A browser's Origin must be this server's.",
        response=STRING,
        status=101,
        media="",
        fuzz=False,
        tag="control page",
    ),
    ("GET", "/api/shows/{show}/multiview/{source}.jpg"): Op(
        "Latest preview picture of a studio or the program (JPEG)",
        params={"source": PATH_PARAMS["source"]},
        response={"type": "string", "contentMediaType": "image/jpeg"},
        media="image/jpeg",
        tag="control page",
    ),
    ("GET", "/api/shows/{show}/multiview/{source}.mjpg"): Op(
        "Live preview of a studio or the program (MJPEG stream)",
        "multipart/x-mixed-replace at the multiview rate, for an <img>; streams until the client goes.",
        response=STRING,
        media="multipart/x-mixed-replace",
        fuzz=False,
        tag="control page",
    ),
    # -- mixer ----------------------------------------------------------------------------------
    ("POST", "/api/shows/{show}/take"): Op(
        "Take preview to program with a transition",
        "Preview and program swap. 409 when nothing is on preview. Logged as `program.take`.",
        body=bodies.TakeBody,
        response=answers.Mixer,
        errors=(409, 503),
    ),
    ("POST", "/api/shows/{show}/layout"): Op(
        "Build a layout on preview",
        "`studios` main first (default: preview, then program); `single` needs 1 studio, `pip` and "
        "`side-by-side` need 2 different ones. Nothing goes to air until a take. Logged as `preview.layout`.",
        body=bodies.LayoutBody,
        body_required=True,
        response=answers.Mixer,
        errors=(503,),
    ),
    ("POST", "/api/shows/{show}/panic"): Op(
        "Panic: the safe slate and silence from the next frame",
        '`{"on": false}` (or POST /unpanic) goes back to the program bus. Logged as `program.panic`.',
        body=bodies.PanicBody,
        response=answers.Mixer,
        errors=(503,),
    ),
    ("POST", "/api/shows/{show}/unpanic"): Op(
        "Lift panic: back to the program bus",
        body=bodies.EmptyBody,
        response=answers.Mixer,
        errors=(503,),
    ),
    ("POST", "/api/shows/{show}/ftb"): Op(
        "Fade to black (and back)",
        '`{"on": true}` fades the program to black and silence over `duration_ms` (default: the show\'s); '
        '`{"on": false}` fades back up. Logged as `program.ftb`.',
        body=bodies.FtbBody,
        response=answers.Mixer,
        errors=(503,),
    ),
    ("POST", "/api/shows/{show}/tbar"): Op(
        "Move the T-bar",
        "`position` 0 (program) to 1 (preview): the program shows the mix of both; at 1 the preview is "
        "taken (as `program.take`). 409 at 1 when nothing is on preview.",
        body=bodies.TbarBody,
        body_required=True,
        response=answers.Mixer,
        errors=(409, 503),
    ),
    ("GET", "/api/shows/{show}/alarms"): Op(
        "The show's alarms",
        "Newest first; each stays until acknowledged (`active` false: its condition has cleared).",
        response=answers.AlarmList,
    ),
    ("POST", "/api/shows/{show}/alarms/{alarm}/ack"): Op(
        "Acknowledge an alarm",
        "Logged as `alarm.acknowledged`. 404 for an unknown alarm (or one already gone).",
        body=bodies.EmptyBody,
        response=answers.Alarm,
        errors=(404,),
    ),
    ("POST", "/api/shows/{show}/fallback-policy"): Op(
        "What the program does after a fallback, from now on",
        "`auto`: back to the studio once it has delivered steadily (`fallback_return_after`, doubled per"
        " return within a minute); `manual`: stay on the backup or slate until the crew cuts. Overrides"
        " the config's `fallback_policy`; stored. Logged as `program.fallback_policy`.",
        body=bodies.FallbackPolicyBody,
        body_required=True,
        response=answers.Mixer,
        errors=(503,),
    ),
    ("POST", "/api/shows/{show}/audio/{studio}"): Op(
        "Set a studio's gain and/or mute",
        f"`gain_db` {GAIN_DB_MIN:g} to {GAIN_DB_MAX:+g} dB. Logged as `audio.set`.",
        body=bodies.AudioBody,
        body_required=True,
        response=answers.Mixer,
        errors=(503,),
    ),
    ("GET", "/api/shows/{show}/audio"): Op(
        "Audio settings and meters (cheap to poll)",
        response=answers.Audio,
    ),
    # -- products, cards, graphics -------------------------------------------------------------
    ("GET", "/api/shows/{show}/products"): Op(
        "The catalogue with live values",
        query=bodies.ProductsQuery,
        response=answers.ProductList,
    ),
    ("POST", "/api/shows/{show}/products/import"): Op(
        "Import products (CSV or JSON)",
        f"Up to {productimport.MAX_PRODUCTS} rows; rows replace products with the same id. The first bad "
        "row refuses the whole import (400 names the row and field). Logged as `catalogue.imported`.",
        content={
            "text/csv": {"type": "string", "description": "a header row with ProductRow's field names"},
            JSON: IMPORT_JSON,
        },
        body_required=True,
        response=answers.Imported,
        errors=(413, 503),
    ),
    ("GET", "/api/shows/{show}/rundown"): Op(
        "The running order: product ids per studio",
        response=answers.Rundown,
    ),
    ("PUT", "/api/shows/{show}/rundown"): Op(
        "Replace the running order",
        "Known studios and products only, no product twice per studio. Logged as `rundown.set`.",
        body=bodies.RundownBody,
        body_required=True,
        response=answers.Rundown,
        errors=(503,),
    ),
    ("PATCH", "/api/shows/{show}/products/{product}"): Op(
        "Change a product's live price, stock, sold count or promo",
        "null puts a field back to the catalogue value. A changed price of a product on air needs "
        f"`confirm_price: true` (else 409); a price over {catalogue.MAX_PRICE_FACTOR}x the catalogue price "
        "is refused as a typo. Logged as `product.updated` (and `card.price_changed`).",
        body=bodies.ProductPatch,
        body_required=True,
        response=answers.ProductAnswer,
        errors=(409, 503),
    ),
    ("POST", "/api/shows/{show}/cards"): Op(
        "Put a product card on air (now, or with the next take)",
        "A live price that differs from the catalogue needs `confirm_price: true` (else 409). "
        "Logged as `card.shown` with the price on air. `preview: true` builds it on preview instead: "
        "it goes on air with the next take (`preview_cards` in the show state; `preview.card`).",
        body=bodies.CardBody,
        body_required=True,
        response=answers.CardAnswer,
        errors=(409, 503),
    ),
    ("DELETE", "/api/shows/{show}/cards/{slot}"): Op(
        "Take a card off air",
        "404 when the slot is empty. Logged as `card.hidden` with its time on air. "
        "`?bus=preview` removes a card waiting on preview instead.",
        response=answers.Graphics,
        errors=(503,),
    ),
    ("POST", "/api/shows/{show}/lower-third"): Op(
        "Show a studio's lower third (host name and place)",
        body=bodies.LowerThirdBody,
        body_required=True,
        response=answers.Graphics,
        errors=(503,),
    ),
    ("DELETE", "/api/shows/{show}/lower-third"): Op(
        "Hide the lower third", "404 when none is on air.", response=answers.Graphics, errors=(503,)
    ),
    ("POST", "/api/shows/{show}/logo"): Op(
        "Show or hide the show logo",
        body=bodies.OnOffBody,
        body_required=True,
        response=answers.Graphics,
        errors=(503,),
    ),
    # -- hosts ----------------------------------------------------------------------------------
    ("POST", "/api/shows/{show}/studios/{studio}/cue"): Op(
        "Cue a studio's host: a product and/or a note",
        "Shown on the host's page at once. Logged as `cue.set`.",
        body=bodies.CueBody,
        response=answers.CueAnswer,
        errors=(503,),
    ),
    ("POST", "/api/shows/{show}/studios/{studio}/kick"): Op(
        "Kick a studio: end its session and void its join link",
        "The host cannot rejoin with the old link; reissue one (or GET /links) to let them back. "
        "Logged as `studio.kicked`.",
        body=bodies.EmptyBody,
        response=answers.Kicked,
        errors=(503,),
    ),
    ("POST", "/api/shows/{show}/studios/{studio}/reissue"): Op(
        "Reissue a studio's join link (the old one stops working at once)",
        "Also ends the studio's session. Logged as `link.reissued`.",
        body=bodies.EmptyBody,
        response=answers.JoinLink,
        errors=(503,),
    ),
    ("GET", "/api/shows/{show}/studios/{studio}/qr.svg"): Op(
        "The studio's current join link as a QR code (SVG)",
        response={"type": "string", "contentMediaType": "image/svg+xml"},
        media="image/svg+xml",
    ),
    # -- outputs --------------------------------------------------------------------------------
    ("GET", "/api/shows/{show}/outputs"): Op(
        "Every output's status (HLS, FLV, WHEP, RTMP, recording)",
        response=answers.OutputList,
    ),
    ("GET", "/api/shows/{show}/outputs/rtmp"): Op(
        "RTMP push destinations (stream keys hidden)",
        response=answers.DestinationList,
    ),
    ("POST", "/api/shows/{show}/outputs/rtmp"): Op(
        "Add an RTMP push destination",
        "Starts pushing the program at once (reconnecting with backoff). Logged as `output.rtmp.added`.",
        body=bodies.RtmpBody,
        body_required=True,
        response=answers.RtmpDestination,
        status=201,
        errors=(409,),
    ),
    ("DELETE", "/api/shows/{show}/outputs/rtmp/{name}"): Op(
        "Remove an RTMP push destination",
        "Logged as `output.rtmp.removed`.",
        response=answers.Removed,
    ),
    ("GET", "/api/shows/{show}/recording"): Op("The recording's status and latest files", response=answers.Recording),
    ("POST", "/api/shows/{show}/recording"): Op(
        "Start or stop recording the program",
        "Idempotent. Logged as `recording.started` / `recording.stopped`.",
        body=bodies.OnOffBody,
        body_required=True,
        response=answers.Recording,
    ),
    ("POST", "/api/shows/{show}/delay"): Op(
        "Set one output's broadcast delay while live (0-60 s)",
        "`output`: `hls`, `flv`, `whep`, `webhook` or `rtmp:{name}`. A longer delay holds the output still "
        "for the added seconds; a shorter one plays the held part out faster. Stored (outlasts a restart); "
        "logged as `broadcast.delay_changed`.",
        body=bodies.DelayBody,
        body_required=True,
        response=answers.DelayChanged,
    ),
    ("POST", "/api/shows/{show}/dump"): Op(
        "Dump: the delayed outputs' held, not yet aired seconds become the slate",
        "Each delayed output (config `outputs.delay_s`, `outputs.rtmp[].delay_s`) replaces what it holds "
        "with the slate, same timestamps, delay unchanged; live video follows from its next keyframe. "
        "Logged as `broadcast.dumped` with who and when. 409 when no output is delayed.",
        body=bodies.EmptyBody,
        response=answers.Dumped,
        errors=(409,),
    ),
    ("POST", "/api/shows/{show}/programs"): Op(
        "Add or remove the show's second program while live",
        "`programs`, main first: the main program stays (its outputs are the show's own URLs); "
        '`["landscape", "portrait"]` starts the portrait program with its outputs '
        "(`/live/{show}-portrait/...`, `/whep/{show}-portrait`, its RTMP destinations, recording) from "
        'the next frame; `["landscape"]` stops it. Stored (outlasts a restart); logged as `programs.changed`.',
        body=bodies.ProgramsBody,
        body_required=True,
        response=answers.ProgramsChanged,
    ),
    ("POST", "/api/shows/{show}/monitor"): Op(
        "Program monitor with sound (WebRTC, live: before any broadcast delay)",
        "A WHEP-style recvonly offer; the answer's data channel carries `monitor.clock` messages (the "
        "tick each frame shows) and answers `ping`s, so the page measures its glass-to-glass delay. "
        "503 with Retry-After at the limit (20 per show).",
        content={SDP: STRING},
        body_required=True,
        response=STRING,
        status=201,
        media=SDP,
        errors=(415, 503),
        headers={"Location": "the stream's URL (DELETE ends it)", "ETag": "the stream's ETag"},
        fuzz=False,
        tag="monitor",
    ),
    ("DELETE", "/api/shows/{show}/monitor/{viewer}"): Op("Stop a program monitor stream", fuzz=False, tag="monitor"),
    ("POST", "/api/shows/{show}/solo/{studio}"): Op(
        "Solo (pre-fader listen) one studio: its decoded audio before gain and mute, as Opus",
        "A recvonly audio offer. The program mix is not changed. One encode per soloed studio, shared. "
        "503 with Retry-After at the limit (20 per show).",
        content={SDP: STRING},
        body_required=True,
        response=STRING,
        status=201,
        media=SDP,
        errors=(415, 503),
        headers={"Location": "the stream's URL (DELETE ends it)", "ETag": "the stream's ETag"},
        fuzz=False,
        tag="monitor",
    ),
    ("DELETE", "/api/shows/{show}/solo/{studio}/{viewer}"): Op("Stop a solo stream", fuzz=False, tag="monitor"),
    # -- outside /api: listed with their media types, never fuzzed -------------------------------
    ("GET", "/healthz"): Op(
        "Liveness: every show's program clock",
        "503 (`degraded`) when a program clock stopped.",
        response=answers.Health,
        errors=(503,),
        auth="none",
        fuzz=False,
        tag="health",
    ),
    ("GET", "/metrics"): Op(
        "Prometheus metrics", response=STRING, media="text/plain", auth="none", fuzz=False, tag="health"
    ),
    ("GET", "/join/{token}"): Op(
        "A host's join page (HTML)",
        "403 page when the link is not valid.",
        response=STRING,
        media="text/html",
        errors=(403,),
        auth="none",
        fuzz=False,
        tag="hosts",
    ),
    ("GET", "/host/{token}/ws"): Op(
        "A host page's live channel (WebSocket)",
        "Pushes tally, cue, wanted quality and stats; the join token in the path authenticates.",
        response=STRING,
        status=101,
        media="",
        errors=(401,),
        auth="none",
        fuzz=False,
        tag="hosts",
    ),
    ("POST", "/whip/{show}/{studio}"): Op(
        "WHIP: start a studio's session (RFC 9725)",
        "A new session replaces the studio's old one. `?client=` names the page, `?reconnect=1` marks "
        "automatic retries (409 if another page took the studio).",
        content={SDP: STRING},
        body_required=True,
        response=STRING,
        status=201,
        media=SDP,
        errors=(409, 415),
        auth="join",
        headers={"Location": "the session's URL", "ETag": "the session's ETag", "Accept-Patch": SDPFRAG},
        fuzz=False,
        tag="WHIP",
    ),
    ("PATCH", "/whip/{show}/{studio}/{session}"): Op(
        "WHIP: trickle ICE candidates",
        "Needs `If-Match` (428 without, 412 another ETag); ICE restart is not supported (422).",
        content={SDPFRAG: STRING},
        body_required=True,
        status=204,
        errors=(412, 415, 422, 428),
        auth="join",
        fuzz=False,
        tag="WHIP",
    ),
    ("DELETE", "/whip/{show}/{studio}/{session}"): Op("WHIP: end a session", auth="join", fuzz=False, tag="WHIP"),
    ("OPTIONS", "/whip/{show}/{studio}"): Op("WHIP: CORS preflight", status=204, auth="none", fuzz=False, tag="WHIP"),
    ("OPTIONS", "/whip/{show}/{studio}/{session}"): Op(
        "WHIP: CORS preflight", status=204, auth="none", fuzz=False, tag="WHIP"
    ),
    ("POST", "/whep/{show}"): Op(
        "WHEP: watch the program (recvonly offer)",
        "503 with Retry-After when the show has its maximum of viewers.",
        content={SDP: STRING},
        body_required=True,
        response=STRING,
        status=201,
        media=SDP,
        errors=(415, 503),
        auth="viewer",
        headers={"Location": "the viewer session's URL", "ETag": "the viewer session's ETag"},
        fuzz=False,
        tag="WHEP",
    ),
    ("DELETE", "/whep/{show}/{viewer}"): Op("WHEP: stop watching", auth="viewer", fuzz=False, tag="WHEP"),
    ("PATCH", "/whep/{show}/{viewer}"): Op(
        "WHEP: trickle ICE (not supported: 405)", status=405, auth="viewer", fuzz=False, tag="WHEP"
    ),
    ("OPTIONS", "/whep/{show}"): Op("WHEP: CORS preflight", status=204, auth="none", fuzz=False, tag="WHEP"),
    ("OPTIONS", "/whep/{show}/{viewer}"): Op("WHEP: CORS preflight", status=204, auth="none", fuzz=False, tag="WHEP"),
    # -- talk and listen (orchestrator/returnfeeds.py) -------------------------------------------
    ("POST", "/return/{show}/{studio}"): Op(
        "Return feed: the host hears the program minus their own voice and sees a small program picture",
        "A recvonly offer (audio, and VP8 video if wanted) with the studio's join token; 403 for another "
        "studio's token, 409 before the studio has joined (WHIP). A new return replaces the studio's last one.",
        content={SDP: STRING},
        body_required=True,
        response=STRING,
        status=201,
        media=SDP,
        errors=(409, 415),
        auth="join",
        headers={"Location": "the return feed's URL", "ETag": "the return feed's ETag"},
        fuzz=False,
        tag="talk and listen",
    ),
    ("DELETE", "/return/{show}/{studio}/{feed}"): Op(
        "Return feed: end it", auth="join", fuzz=False, tag="talk and listen"
    ),
    ("OPTIONS", "/return/{show}/{studio}"): Op(
        "Return feed: CORS preflight", status=204, auth="none", fuzz=False, tag="talk and listen"
    ),
    ("OPTIONS", "/return/{show}/{studio}/{feed}"): Op(
        "Return feed: CORS preflight", status=204, auth="none", fuzz=False, tag="talk and listen"
    ),
    ("GET", "/api/shows/{show}/talkback"): Op(
        "Return feeds and talkbacks: counts, who is talking to whom, the shared encodes",
        response=answers.TalkAndListen,
        tag="talk and listen",
    ),
    ("POST", "/api/shows/{show}/talkback"): Op(
        "Talkback: connect this page's microphone (send-only audio offer)",
        "Answers 201 with the SDP answer and a `Location` to key it on and off. Nobody hears it until keyed.",
        content={SDP: STRING},
        body_required=True,
        response=STRING,
        status=201,
        media=SDP,
        errors=(415,),
        headers={"Location": "the talkback's URL"},
        fuzz=False,
        tag="talk and listen",
    ),
    ("POST", "/api/shows/{show}/talkback/{talk}"): Op(
        "Talkback: talk (`on`) to some studios or all, or stop",
        "The targets hear it in their return feed with the program ducked 15 dB; never on the program. "
        "Only the operator who connected it may key it.",
        body=bodies.TalkbackBody,
        body_required=True,
        response=answers.TalkKeyed,
        tag="talk and listen",
    ),
    ("DELETE", "/api/shows/{show}/talkback/{talk}"): Op(
        "Talkback: disconnect the microphone", response=answers.TalkClosed, tag="talk and listen"
    ),
    ("GET", "/live/{show}.flv"): Op(
        "HTTP-FLV pull of the program",
        "Starts at the last keyframe with codec headers; streams until the client goes.",
        response=STRING,
        media="video/x-flv",
        auth="none",
        fuzz=False,
        tag="pull",
    ),
    ("GET", "/live/{show}/{name}"): Op(
        "HLS pull: `index.m3u8` and the segments it names",
        params={"name": {"type": "string", "examples": ["index.m3u8"]}},
        response=STRING,
        media="application/vnd.apple.mpegurl",
        auth="none",
        fuzz=False,
        tag="pull",
    ),
    ("GET", "/control/{show}"): Op(
        "The production crew's control page (HTML)",
        response=STRING,
        media="text/html",
        auth="none",
        fuzz=False,
        tag="control page",
    ),
    ("GET", "/static/{name}"): Op(
        "The control page's script and style",
        params={"name": {"enum": ["control.js", "control.css"]}},
        response=STRING,
        media="text/javascript",
        auth="none",
        fuzz=False,
        tag="control page",
    ),
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

TAGS = {
    "api": "show",
    "mixerapi": "mixer",
    "cardsapi": "graphics",
    "catalogueapi": "catalogue",
    "hostapi": "hosts",
    "studiosapi": "hosts",
    "outputsapi": "outputs",
    "session": "sessions",
    "control": "control page",
    "docs": "docs",
}


# -- building --------------------------------------------------------------------------------------


def _route_table(routes: Iterable[web.RouteDef] | None) -> list[web.RouteDef]:
    return [r for r in (ROUTES if routes is None else routes) if isinstance(r, web.RouteDef)]


def _template(path: str) -> str:
    """aiohttp's ``{name:regex}`` as OpenAPI's ``{name}``."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)


def _path_names(path: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", path)


def needed_role(method: str, path: str) -> str:
    """The least role that may call a route: "producer" if a producer may, else "director"."""
    return "producer" if any(r.value == "producer" for r in roles_for(method, path)) else "director"


def _role_note(method: str, path: str, op: Op) -> str:
    if op.auth == "none":
        return "No credentials needed."
    if op.auth == "operator":
        return "Any signed-in operator."
    if op.auth == "join":
        return "The studio's join token (`Authorization: Bearer`), for this show and studio."
    if op.auth == "viewer":
        return "A viewer token only when the show sets `outputs.whep_viewer_token`."
    roles = [r.value for r in roles_for(method, path)]
    if len(roles) == 3:
        return "Role: any operator (producer, links or director)."
    if roles == ["producer", "director"]:
        return "Role: producer or director (a producer write: cards, products, rundown, graphics, cues)."
    if roles == ["director", "links"]:
        return "Role: director or links (join links, QR codes, kick, reissue); a producer gets 403."
    return "Role: director only (a producer gets 403)."


def _security(op: Op) -> list[dict[str, list[str]]]:
    schemes: dict[str, list[dict[str, list[str]]]] = {
        "none": [],
        "join": [{"joinToken": []}],
        "viewer": [{}, {"viewerToken": []}],  # a viewer token only if the show sets one
    }
    return schemes.get(op.auth, OPERATOR_SECURITY)


def _error(description: str) -> Schema:
    return _json(answer_schema(answers.Error), description)


def _operation(method: str, path: str, handler: Any, op: Op) -> Schema:
    names = _path_names(path)
    parameters: list[Schema] = [
        {"name": n, "in": "path", "required": True, "schema": op.params.get(n) or PATH_PARAMS.get(n, STRING)}
        for n in names
    ]
    query = query_schemas(op.query) if op.query is not None else {}
    parameters += [{"name": n, "in": "query", "required": False, "schema": s} for n, s in query.items()]
    module = getattr(handler, "__module__", "").rsplit(".", 1)[-1]
    result: Schema = {
        "operationId": method.lower() + "_" + re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_"),
        "summary": op.summary,
        "description": " ".join(x for x in (op.description, _role_note(method, path, op)) if x),
        "tags": [op.tag or TAGS.get(module, module or "other")],
        "security": _security(op),
    }
    if op.auth == "role":
        result["x-role"] = needed_role(method, path)
        result["x-roles"] = [r.value for r in roles_for(method, path)]
    if not op.fuzz:
        result["x-fuzz"] = False
    if parameters:
        result["parameters"] = parameters
    content = op.content if op.content is not None else ({JSON: model_schema(op.body)} if op.body else None)
    if content:
        result["requestBody"] = {
            "required": op.body_required,
            "content": {media: {"schema": schema} for media, schema in content.items()},
        }
    ok: Schema = {"description": STATUS_TEXT.get(op.status, "OK")}
    if op.response is not None and op.media:
        answer = op.response if isinstance(op.response, dict) else answer_schema(op.response)
        ok["content"] = {op.media: {"schema": answer}}
    if op.headers:
        ok["headers"] = {name: {"description": text, "schema": STRING} for name, text in op.headers.items()}
    responses: dict[str, Schema] = {str(op.status): ok}
    codes = set(op.errors)
    if content or query:
        codes.add(400)
    if op.auth != "none":
        codes.add(401)
    if op.auth in ("role", "operator"):
        codes.update((403, 429))  # a role or show it may not use, a cross-site cookie; guessing tokens
    if op.auth == "join":
        codes.add(403)
    if names and method != "OPTIONS":
        codes.add(404)
    for code in sorted(codes - {op.status}):
        responses[str(code)] = _error(STATUS_TEXT.get(code, "Error"))
    result["responses"] = responses
    return result


def _undocumented_operation(method: str, path: str) -> Schema:
    return {
        "summary": "(not documented yet)",
        "operationId": method.lower() + "_" + re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_"),
        "parameters": [{"name": n, "in": "path", "required": True, "schema": STRING} for n in _path_names(path)],
        "responses": {"default": {"description": "not documented"}},
        "x-undocumented": True,
        "x-fuzz": False,
    }


def undocumented(routes: Iterable[web.RouteDef] | None = None) -> list[tuple[str, str]]:
    """Routes of the table (``/api`` and the media endpoints alike) that :data:`OPERATIONS` does not describe."""
    return [
        (r.method, _template(r.path)) for r in _route_table(routes) if (r.method, _template(r.path)) not in OPERATIONS
    ]


def stale(routes: Iterable[web.RouteDef] | None = None) -> list[tuple[str, str]]:
    """Entries of :data:`OPERATIONS` whose route is no longer in the table."""
    present = {(r.method, _template(r.path)) for r in _route_table(routes)}
    return sorted(key for key in OPERATIONS if key not in present)


def _version() -> str:
    try:
        return metadata.version("broadcast-orchestrator")
    except metadata.PackageNotFoundError:
        return "0"


def document(routes: Iterable[web.RouteDef] | None = None) -> Schema:
    """The OpenAPI 3.1 document for the route table (the app's own by default)."""
    paths: dict[str, dict[str, Schema]] = {}
    for route in _route_table(routes):
        path = _template(route.path)
        op = OPERATIONS.get((route.method, path))
        entry = (
            _operation(route.method, path, route.handler, op)
            if op is not None
            else _undocumented_operation(route.method, path)
        )
        paths.setdefault(path, {})[route.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Broadcast orchestrator",
            "version": _version(),
            "description": (
                "The production crew's JSON API (`/api/...`), plus the public media endpoints "
                "(WHIP, WHEP, HLS, HTTP-FLV, join page, health, metrics) with their media types.\n\n"
                "Authenticate with `Authorization: Bearer <operator token>` or the session cookie that "
                f"`POST /api/login` sets (`{COOKIE}`; a change sent with the cookie also needs "
                f"`{CSRF_HEADER}` or a JSON body, from this server's own origin). Reads are open to every "
                "operator; producers may also drive cards, products, the rundown, graphics and cues; the "
                "links role hands out join links; everything else needs a director (403 otherwise; also "
                "403 on a show an operator is not scoped to). "
                'Errors are JSON `{"error": "..."}`; a state store outage answers 503 '
                "and changes nothing. Every change is written to the audit trail (`/events`)."
            ),
        },
        "tags": [{"name": name} for name in sorted({*TAGS.values(), "health", "hosts", "WHIP", "WHEP", "pull"})],
        "security": OPERATOR_SECURITY,
        "paths": paths,
        "components": {"schemas": {**GENERATED, **SCHEMAS}, "securitySchemes": SECURITY_SCHEMES},
    }
