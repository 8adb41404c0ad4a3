"""The routes' prose: each route's summary, description and tag, read from ``routes.md``.

``routes.md`` (beside :mod:`orchestrator.routes`) is Markdown: ``# title``, the API's
introduction, then a ``## tag`` section per group of routes with a ``### METHOD path`` entry per
route; an entry's first paragraph is its summary, the rest its description. A paragraph's lines
are joined with spaces; ``${NAME}`` is replaced by :data:`VALUES` (figures the code owns).
HTML comments are notes for the file's readers only.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import NamedTuple

from mixer.scene import GAIN_DB_MAX, GAIN_DB_MIN
from orchestrator.catalogue.pricerules import MAX_PRICE_FACTOR
from orchestrator.productimport import MAX_PRODUCTS
from orchestrator.sessions import COOKIE, CSRF_HEADER

VALUES = {
    "COOKIE": COOKIE,
    "CSRF_HEADER": CSRF_HEADER,
    "GAIN_DB_MIN": f"{GAIN_DB_MIN:g}",
    "GAIN_DB_MAX": f"{GAIN_DB_MAX:+g}",
    "MAX_PRODUCTS": str(MAX_PRODUCTS),
    "MAX_PRICE_FACTOR": str(MAX_PRICE_FACTOR),
}


class RouteProse(NamedTuple):
    """One route's words in the document."""

    tag: str
    summary: str
    description: str


@dataclass(frozen=True)
class Prose:
    """``routes.md`` read: the document's title and introduction, and each route's words by (METHOD, path)."""

    title: str
    introduction: str
    operations: dict[tuple[str, str], RouteProse]


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split("\n")) for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def parse_prose(markdown: str) -> Prose:
    """``routes.md``'s text as :class:`Prose`.

    Raises ValueError for an entry without a summary, KeyError for an unknown ``${NAME}``.
    """
    text = Template(re.sub(r"<!--.*?-->", "", markdown, flags=re.S)).substitute(VALUES)
    head, *sections = re.split(r"^## ", text, flags=re.M)
    title, _, introduction = head.strip().removeprefix("# ").partition("\n")
    operations: dict[tuple[str, str], RouteProse] = {}
    for section in sections:
        tag, *entries = re.split(r"^### ", section, flags=re.M)
        for entry in entries:
            heading, _, body = entry.partition("\n")
            method, _, path = heading.strip().partition(" ")
            summary, *description = _paragraphs(body) or [""]
            if not summary:
                raise ValueError(f"routes.md: {heading.strip()}: no summary")
            operations[method, path] = RouteProse(tag.strip(), summary, "\n\n".join(description))
    return Prose(title.strip(), "\n\n".join(_paragraphs(introduction)), operations)


@functools.cache
def read_prose() -> Prose:
    """``routes.md`` of the installed package, read once."""
    return parse_prose(resources.files("orchestrator").joinpath("routes.md").read_text(encoding="utf-8"))
