"""The field types every model shares (config, API bodies, product import), and their errors.

A rule about a value lives here once: a product's price is :data:`Price` whether it comes from
the config file, a CSV import or ``PATCH .../products/{id}``. Models are pydantic v2
(dataclasses for the config tree, ``BaseModel`` for request bodies); :func:`problems` turns
pydantic's errors into ``(key, problem)`` pairs that the config loader prints as
``file: key: problem`` and the API returns as a 400's ``error``.
"""

from __future__ import annotations

import math
import re
import reprlib
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
)
from pydantic_core import core_schema

from mixer.fallback import POLICIES
from mixer.scene import MAX_TRANSITION_MS

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_NUMBER = 1e15  # any float beyond this is a typo, and ints beyond 2**53 lose digits as floats
MAX_PRICE = 10_000_000.0  # yuan; anything above is a typo whatever the product
MAX_COUNT = 1_000_000_000  # stock and sold counts
MAX_PROMO_CHARS = 16  # what fits a product card's header
MAX_TEXT_CHARS = 200  # a product's name, name_en, enterprise
MAX_URL_CHARS = 500

_SHORT = reprlib.Repr()  # a value in an error message: bounded, never recursing
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 2, 40, 40


def short(value: Any) -> str:
    """``repr(value)`` cut to ~40 characters: safe to put in a one-line message."""
    return _SHORT.repr(value)


def is_one_line(text: str) -> bool:
    """No line breaks or control characters: graphics draw one line (a break fails the text layout)."""
    return not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text)


def _finite(value: Any) -> Any:
    # Before pydantic's own checks, so 1e308 reads "finite" rather than "out of range".
    # abs() first: math.isfinite overflows on a JSON integer beyond any float.
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and (abs(value) > MAX_NUMBER or not math.isfinite(value)):
        raise ValueError(f"must be a finite number of at most {MAX_NUMBER:g}, got {short(value)}")
    return value


def _one_line(text: str) -> str:
    if not is_one_line(text):
        raise ValueError("must be one line of text, without control characters")
    return text


def _id(text: str) -> str:
    if not ID_RE.match(text):
        raise ValueError(f"{short(text)} must be lowercase letters, digits, '-'")
    return text


class _Check:
    """Base of an annotation whose ``check(value)`` runs after pydantic's own type validation
    and raises ValueError with the message; ``annotate`` adds the rule to the JSON schema."""

    def check(self, value: Any) -> Any:
        raise NotImplementedError

    def annotate(self, schema: dict[str, Any]) -> None:
        """Write this rule into the field's JSON schema (``minimum``, ``enum``, ...)."""
        raise NotImplementedError

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        out = dict(handler(schema))
        self.annotate(out)
        return out


@dataclass(frozen=True)
class InRange(_Check):
    """Annotation: the value is in ``lo..hi`` inclusive, in ``unit`` (shown in the OpenAPI document).

    The error reads ``5e7 is out of range (must be between 0 and 1e+07)``.
    """

    lo: float
    hi: float
    unit: str = ""

    def check(self, value: float) -> float:
        if not self.lo <= value <= self.hi:
            below_zero = "must not be negative: " if value < 0 and self.lo == 0 else "must be "
            raise ValueError(f"{value!r} is out of range ({below_zero}between {self.lo:g} and {self.hi:g})")
        return value

    def annotate(self, schema: dict[str, Any]) -> None:
        schema.update(minimum=self.lo, maximum=self.hi)
        if self.unit:
            schema["description"] = f"{schema['description']} ({self.unit})" if "description" in schema else self.unit


@dataclass(frozen=True)
class OneOf(_Check):
    """Annotation: a string that is one of ``choices`` (an ``enum`` in the OpenAPI document)."""

    choices: tuple[str, ...]

    def check(self, value: str) -> str:
        if value not in self.choices:
            named = ", ".join(c for c in self.choices if c)  # "" (the default) is not a word to offer
            empty = " (or empty)" if "" in self.choices else ""
            raise ValueError(f"must be one of {named}{empty}; got {short(value)}")
        return value

    def annotate(self, schema: dict[str, Any]) -> None:
        schema.pop("type", None)
        schema["enum"] = list(self.choices)


# What the graphics can draw (is_one_line) as a JSON Schema pattern, for the OpenAPI document.
ONE_LINE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$"

# A finite number (int or float; never a bool), stored as float.
Number = Annotated[float, BeforeValidator(_finite), Field(strict=True, allow_inf_nan=False)]
Integer = StrictInt
Flag = StrictBool
Text = StrictStr
# One line of text (names, labels drawn by the graphics), without surrounding blanks.
OneLine = Annotated[
    StrictStr,
    StringConstraints(strip_whitespace=True),
    AfterValidator(_one_line),
    Field(json_schema_extra={"pattern": ONE_LINE_PATTERN}),
]
NonEmpty = Annotated[StrictStr, Field(min_length=1)]
Id = Annotated[StrictStr, AfterValidator(_id)]
Price = Annotated[Number, InRange(0, MAX_PRICE, "yuan")]
Count = Annotated[Integer, InRange(0, MAX_COUNT)]


# Media settings shared by the config (shows[]) and the API's bodies.
ORIENTATIONS = ("landscape", "portrait")
VIDEO_CODECS = ("h264", "vp8")  # what studios may send (server.video_codec, shows[].video_codec)
Orientation = Annotated[Text, OneOf(ORIENTATIONS)]


def _distinct(programs: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(programs)) != len(programs):
        raise ValueError('each orientation at most once, e.g. ["landscape", "portrait"]')
    return programs


# A show's programs, main first: the config's shows[].programs and POST .../programs alike.
Programs = Annotated[
    tuple[Orientation, ...], Field(min_length=1, max_length=len(ORIENTATIONS)), AfterValidator(_distinct)
]
TransitionMs = Annotated[Integer, InRange(0, MAX_TRANSITION_MS, "milliseconds")]
FallbackPolicy = Annotated[Text, OneOf(POLICIES)]


# Parts of a pydantic location that name its own schema (a union's member: ``list[constrained-str]``,
# ``function-after[check(), str]``), not a key the user wrote. Our keys and ids never hold "[".
_SCHEMA_PARTS = frozenset({"str", "int", "float", "bool", "none", "list", "dict", "tuple"})
_SCHEMA_PREFIXES = ("function-", "dataclass-", "json-or-python", "lax-or-strict", "constrained-", "nullable")


def _is_schema_part(part: str) -> bool:
    return "[" in part or part in _SCHEMA_PARTS or part.startswith(_SCHEMA_PREFIXES)


def where(loc: Sequence[int | str]) -> str:
    """A pydantic location as the config spells keys: ``shows[0].studios[1].id``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _is_schema_part(str(part)):
            out += f".{part}" if out else str(part)
    return out


_WORDS = {
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "int_parsing": "expected an integer",  # a query string's text, parsed (not strict)
    "float_parsing": "expected a number",
    "bool_parsing": "expected true or false",
    "float_type": "expected a number",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dataclass_type": "expected a table",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "dict_type": "expected an object",
}


def _problem(error: Any, unknown: str) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return unknown
    if kind in ("missing", "missing_keyword_argument"):
        return "missing required key"
    if kind in _WORDS:
        return f"{_WORDS[kind]}, got {short(value)}"
    if kind == "finite_number":
        return f"must be a finite number of at most {MAX_NUMBER:g}, got {short(value)}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{short(value)} is out of range ({error['msg'].removeprefix('Input should be ').lower()})"
    if kind in ("string_too_long", "too_long"):
        return f"must be at most {ctx.get('max_length')} {'characters' if isinstance(value, str) else 'items'}"
    if kind in ("string_too_short", "too_short"):
        least = ctx.get("min_length")
        return "must not be empty" if least == 1 else f"must be at least {least} characters"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}, got {short(value)}"
    return str(error["msg"])


def problems(exc: ValidationError, unknown: str = "unknown key") -> Iterator[tuple[str, str]]:
    """Each error as ``(key, problem)``: ``("shows[0].fps", "expected an integer, got 'x'")``.

    ``unknown`` is what a key the model does not know is called (a config's key, a body's field).
    """
    for error in exc.errors(include_url=False):
        yield where(error["loc"]), _problem(error, unknown)


def first_problem(exc: ValidationError) -> str:
    """The first error as one line, ``'key': problem`` (or just the problem for the whole body).

    An unknown field comes first: a misspelt key explains the "missing" one it was meant to be.
    """
    found = list(problems(exc, "unknown field"))
    key, problem = next((p for p in found if p[1] == "unknown field"), found[0] if found else ("", "invalid"))
    return f"'{key}': {problem}" if key else problem
