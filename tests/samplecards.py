"""A product card as the tests and bench/cards.py draw it: Chinese and English names, an
enterprise, a price with a struck-through was-price, a promotion, stock and a buy link (a QR code)."""

from __future__ import annotations

from mixer.graphics.card import CardContent

SOUP = CardContent(
    product="soup",
    name="汪集鸡汤",
    name_en="Wangji chicken soup",
    enterprise="武汉汪集鸡汤有限公司",
    price=39.9,
    was_price=59.9,
    promo="买二赠一",
    stock=5000,
    buy_url="https://shop.example.org/p/soup",
)
