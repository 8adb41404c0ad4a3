"""Who is signed in, and the server's own answers: health, the cluster, this document."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from orchestrator.answers.base import Answer, Object
from orchestrator.fields import OneOf
from orchestrator.operators import Role


class Operator(Answer):
    name: str
    role: Annotated[str, OneOf(tuple(r.value for r in Role))]
    shows: Annotated[list[str], Field(description="only these shows (absent: every show)")] | None = None


class SignedOut(Answer):
    signed_out: Literal[True]


class Cluster(Answer):
    """Without ``server.cluster``: ``node`` null, the lists empty."""

    node: str | None
    nodes: list[Object]
    owners: dict[str, str | None]


class Moving(Answer):
    show: str
    from_: Annotated[str, Field(alias="from")]
    to: str


class Health(Answer):
    status: Literal["ok", "degraded"]
    shows: Object


class OpenApiDocument(Answer):
    """The OpenAPI 3.1 document (orchestrator/openapi.py); its parts as the specification names them."""

    openapi: str
    info: Object
    paths: Object
    components: Object
    security: list[Object]
    tags: list[Object]
