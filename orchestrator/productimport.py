"""Bring a large catalogue in from CSV or JSON (1,000+ products, 400+ enterprises).

Every row is checked; the first bad one refuses the whole import with its row
number and field, so a half-imported price list never reaches the air.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from orchestrator.config import Product
from orchestrator.config.problems import STRICT
from orchestrator.errors import BadRequest
from orchestrator.fields import problems

FIELDS = ("id", "name", "name_en", "enterprise", "price", "was_price", "promo", "stock", "buy_url", "image")
NUMBERS = ("price", "was_price", "stock")
MAX_PRODUCTS = 20_000
_PRODUCT = TypeAdapter(Product)


def _typed(key: str, value: Any, where: str) -> Any:
    """A CSV cell (always text) or JSON value as the model's type; the model checks the rest."""
    if key not in NUMBERS:
        return value if isinstance(value, str) else str(value)
    if isinstance(value, bool):
        raise BadRequest(f"{where}: '{key}' must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond any float
        raise BadRequest(f"{where}: '{key}' must be a number, got {value!r}") from None
    if key == "stock" and math.isfinite(number) and number == int(number):
        return int(number)
    return number if key != "stock" else value


def product_from_row(row: dict[str, Any], where: str) -> Product:
    """One row (CSV dict or JSON object) as a Product; raises BadRequest naming the row and field."""
    unknown = sorted(k for k in row if k not in FIELDS and k)
    if unknown:
        raise BadRequest(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(FIELDS)})")
    # An empty cell is an absent value: the catalogue default, or "required" for the required ones.
    data = {k: _typed(k, v, where) for k, v in row.items() if k and v is not None and v != ""}
    try:
        return _PRODUCT.validate_python(data)
    except ValidationError as exc:
        key, problem = next(problems(exc))
        if key == "stock" and "integer" in problem:
            problem = "must be a whole number"
        raise BadRequest(f"{where}: '{key}' {problem}") from None


def parse_products(body: bytes, content_type: str) -> list[Product]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the catalogue must be UTF-8 text") from None
    if content_type == "text/csv":
        rows: list[Any] = list(csv.DictReader(io.StringIO(text)))
        first_row = 2  # row 1 is the header
    elif content_type == "application/json":
        try:
            data = json.loads(text)
        except ValueError:
            raise BadRequest("body is not valid JSON") from None
        except RecursionError:
            raise BadRequest("body is nested too deeply") from None
        extra = sorted(set(data) - {"products"}) if isinstance(data, dict) else []
        if extra:  # like every other body: a field we do not know is refused, not ignored
            raise BadRequest(f"'{extra[0]}': unknown field (send a list of products or {{'products': [...]}})")
        listed = data.get("products") if isinstance(data, dict) else data
        if not isinstance(listed, list):
            raise BadRequest("JSON must be a list of products or {'products': [...]}")
        rows = listed
        first_row = 1
    else:
        raise BadRequest("send text/csv or application/json")
    if not rows:
        raise BadRequest("the catalogue is empty")
    if len(rows) > MAX_PRODUCTS:
        raise BadRequest(f"at most {MAX_PRODUCTS} products per import")
    products: list[Product] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        where = f"row {i + first_row}"
        if not isinstance(row, dict):
            raise BadRequest(f"{where}: each product must be an object")
        product = product_from_row(row, where)
        if product.id in seen:
            raise BadRequest(f"{where}: duplicate product id {product.id!r}")
        seen.add(product.id)
        products.append(product)
    return products


def product_to_row(product: Product) -> dict[str, Any]:
    return {k: getattr(product, k) for k in FIELDS}


def merge(base: tuple[Product, ...], imported: list[Product]) -> tuple[Product, ...]:
    """Imported rows replace products with the same id and add the rest, order kept."""
    by_id = {p.id: p for p in imported}
    kept = tuple(by_id.pop(p.id, p) for p in base)
    return kept + tuple(p for p in imported if p.id in by_id)


def check_rundown(rundown: dict[str, list[str]], studios: set[str], products: set[str]) -> dict[str, list[str]]:
    """The running order per studio (studio id -> product ids in order): known ids, none twice."""
    for studio, items in rundown.items():
        if studio not in studios:
            raise BadRequest(f"unknown studio {studio!r}")
        unknown = [x for x in items if x not in products]
        if unknown:
            raise BadRequest(f"rundown of {studio!r}: unknown product {unknown[0]!r}")
        if len(set(items)) != len(items):
            raise BadRequest(f"rundown of {studio!r} lists a product twice")
    return rundown


# -- the import's body, as the OpenAPI document shows it ------------------------------------------


@dataclass(frozen=True, config=STRICT)
class ProductRow(Product):
    """One catalogue row of an import (CSV columns have the same names)."""


class Catalogue(BaseModel):
    """The rows in an object: ``{"products": [...]}``."""

    model_config = ConfigDict(extra="forbid")

    products: Annotated[list[ProductRow], Field(min_length=1, max_length=MAX_PRODUCTS)]


CatalogueJson = Annotated[list[ProductRow], Field(min_length=1, max_length=MAX_PRODUCTS)] | Catalogue
CatalogueCsv = Annotated[str, Field(description="a header row with ProductRow's field names")]
