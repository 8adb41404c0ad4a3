"""The catalogue's answers: products with their live values, cards on air, the running order."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from orchestrator.answers.base import Answer, LiveField, Slot


class CardBase(Answer):
    """What every card shows: a product of the show in a slot, with its price (yuan)."""

    slot: Slot
    product: str
    name: str
    price: float


class Card(CardBase):
    """A product card on air, with the price that went on air."""

    was_price: float | None = None
    shown_at: float | None = None
    countdown_until: float | None = None
    countdown_left_s: int | None = None
    actor: str | None = None


class PreviewCard(CardBase):
    """A card built on preview (``price``: live now): it goes on air with the next take."""

    countdown_s: int | None


class LowerThird(Answer):
    studio: str
    text: str | None = None


class OnAirGraphics(Answer):
    """The graphics part of a show: cards on air and on preview, the lower third, the logo."""

    cards: list[Card]
    preview_cards: list[PreviewCard]
    lower_third: LowerThird | None
    logo: bool


class Graphics(OnAirGraphics):
    """The graphics after a change, at the stored state's version."""

    version: int


class Product(Answer):
    """A product with the crew's live values (price, stock, sold, promo) applied."""

    id: str
    name: str
    name_en: str | None = None
    enterprise: str
    price: Annotated[float, Field(description="live price (yuan)")]
    catalogue_price: float
    was_price: float | None = None
    promo: str | None = None
    stock: int | None = None
    sold: int | None = None
    buy_url: str | None = None
    image: str | None = None
    overridden: list[LiveField]
    on_air: list[Slot]


class ProductList(Answer):
    products: list[Product]


class ProductAnswer(Answer):
    product: Product


class CardAnswer(Answer):
    card: Annotated[Card | PreviewCard, Field(description="on air, or (preview) the card built on preview")]


class Imported(Answer):
    imported: Annotated[int, Field(description="products in this import")]
    total: Annotated[int, Field(description="products of the show after it")]


class Rundown(Answer):
    studios: Annotated[dict[str, list[str]], Field(description="studio id -> product ids, in order")]
