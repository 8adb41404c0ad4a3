"""A model's JSON Schema as the OpenAPI document shows it: inline for bodies, a component for answers.

pydantic makes every schema; what a model refers to (its ``$defs``) goes to :data:`GENERATED`,
the document's components, and references point there (:data:`REF_TEMPLATE`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

Schema = dict[str, Any]
REF_TEMPLATE = "#/components/schemas/{model}"
GENERATED: dict[str, Schema] = {}  # components the models refer to ($defs), filled as schemas are made


class _OpenApiJsonSchema(GenerateJsonSchema):
    """pydantic's JSON Schema, with ``X | None`` as ``type: [x, "null"]`` where it can be (flat ranges)."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        if isinstance(inner.get("type"), str) and "$ref" not in inner:
            return {**inner, "type": [inner["type"], "null"]}
        return {"anyOf": [inner, {"type": "null"}]}


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


def answer_schema(model: type[BaseModel]) -> Schema:
    """A reference to an answer's model (:mod:`orchestrator.answers`), its schema put in the components."""
    if model.__name__ not in GENERATED:
        GENERATED[model.__name__] = response_schema(model)
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}
