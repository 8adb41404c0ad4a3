"""Bring a large catalogue in from CSV or JSON (1,000+ products, 400+ enterprises).

Every row is checked; the first bad one refuses the whole import with its row
number and field, so a half-imported price list never reaches the air.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from orchestrator.catalogue import is_one_line
from orchestrator.config import ID_RE, Product
from orchestrator.errors import BadRequest

FIELDS = ("id", "name", "name_en", "enterprise", "price", "was_price", "promo", "stock", "buy_url", "image")
MAX_PRODUCTS = 20_000
MAX_PRICE = 10_000_000


def _text(row: dict[str, Any], key: str, where: str, required: bool = False, limit: int = 200) -> str:
    value = row.get(key)
    if value is None or value == "":
        if required:
            raise BadRequest(f"{where}: '{key}' is required")
        return ""
    if not isinstance(value, str):
        value = str(value)
    if len(value) > limit:
        raise BadRequest(f"{where}: '{key}' is longer than {limit} characters")
    value = value.strip()
    if not is_one_line(value):
        raise BadRequest(f"{where}: '{key}' must be one line of text, without control characters")
    return value


def _number(row: dict[str, Any], key: str, where: str, required: bool = False) -> float | None:
    value = row.get(key)
    if value is None or value == "":
        if required:
            raise BadRequest(f"{where}: '{key}' is required")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond any float
        raise BadRequest(f"{where}: '{key}' must be a number, got {value!r}") from None
    if not math.isfinite(number) or not 0 <= number <= MAX_PRICE:
        raise BadRequest(f"{where}: '{key}' must be between 0 and {MAX_PRICE}")
    return number


def _stock(row: dict[str, Any], where: str) -> int | None:
    value = _number(row, "stock", where)
    if value is None:
        return None
    if value != int(value):
        raise BadRequest(f"{where}: 'stock' must be a whole number")
    return int(value)


def product_from_row(row: dict[str, Any], where: str) -> Product:
    unknown = sorted(k for k in row if k not in FIELDS and k)
    if unknown:
        raise BadRequest(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(FIELDS)})")
    pid = _text(row, "id", where, required=True, limit=64)
    if not ID_RE.match(pid):
        raise BadRequest(f"{where}: id {pid!r} must be lowercase letters, digits and '-'")
    price = _number(row, "price", where, required=True)
    assert price is not None
    return Product(
        id=pid,
        name=_text(row, "name", where, required=True),
        enterprise=_text(row, "enterprise", where, required=True),
        price=price,
        was_price=_number(row, "was_price", where),
        name_en=_text(row, "name_en", where),
        promo=_text(row, "promo", where, limit=16),
        buy_url=_text(row, "buy_url", where, limit=500),
        image=_text(row, "image", where, limit=500),
        stock=_stock(row, where),
    )


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


def check_rundown(body: Any, studios: set[str], products: set[str]) -> dict[str, list[str]]:
    """The running order per studio: {"studios": {studio: [product ids in order]}}."""
    if not isinstance(body, dict) or not isinstance(body.get("studios"), dict):
        raise BadRequest("send {'studios': {studio id: [product ids, in order]}}")
    out: dict[str, list[str]] = {}
    for studio, items in body["studios"].items():
        if studio not in studios:
            raise BadRequest(f"unknown studio {studio!r}")
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            raise BadRequest(f"rundown of {studio!r} must be a list of product ids")
        unknown = [x for x in items if x not in products]
        if unknown:
            raise BadRequest(f"rundown of {studio!r}: unknown product {unknown[0]!r}")
        if len(set(items)) != len(items):
            raise BadRequest(f"rundown of {studio!r} lists a product twice")
        out[studio] = items
    return out
