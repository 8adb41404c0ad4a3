"""A product of the catalogue (``shows[].products[]``): one model for the config, an import and the API."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic.dataclasses import dataclass

from orchestrator.config.problems import STRICT
from orchestrator.fields import MAX_PROMO_CHARS, MAX_TEXT_CHARS, MAX_URL_CHARS, Count, Id, OneLine, Price


@dataclass(frozen=True, config=STRICT)
class Product:
    """A product of the catalogue: the same rules from the config, a CSV/JSON import and the API.

    Prices are yuan (0-1e7, :data:`orchestrator.fields.Price`), ``stock`` a count (0-1e9) or
    None, text one line. Raises ``pydantic.ValidationError`` on a bad value.
    """

    id: Id
    name: Annotated[OneLine, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
    enterprise: Annotated[OneLine, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
    price: Price
    was_price: Price | None = None  # the crossed-out price on the card, yuan
    name_en: Annotated[OneLine, Field(max_length=MAX_TEXT_CHARS)] = ""
    promo: Annotated[OneLine, Field(max_length=MAX_PROMO_CHARS)] = ""
    buy_url: Annotated[OneLine, Field(max_length=MAX_URL_CHARS)] = ""
    image: Annotated[OneLine, Field(max_length=MAX_URL_CHARS)] = ""
    stock: Count | None = None
