"""The range of every ranged config field, read from the models (for docs and tests)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from orchestrator.config.outputs import Outputs
from orchestrator.config.product import Product
from orchestrator.config.server import Server
from orchestrator.config.show import Show
from orchestrator.fields import InRange


def _ranges() -> dict[tuple[str, str], tuple[float, float]]:
    """``(class, field) -> (lo, hi)`` of every field annotated with :class:`InRange`."""
    out: dict[tuple[str, str], tuple[float, float]] = {}
    classes: tuple[Any, ...] = (Server, Outputs, Show, Product)
    for cls in classes:
        for f in dataclasses.fields(cls):
            info = cls.__pydantic_fields__[f.name]
            for meta in [*info.metadata, *_metadata(info.annotation)]:
                if isinstance(meta, InRange):
                    out[(cls.__name__, f.name)] = (meta.lo, meta.hi)
    return out


def _metadata(hint: Any) -> list[Any]:
    """The ``Annotated`` metadata anywhere in a type (``Price | None`` holds Price's)."""
    found = list(getattr(hint, "__metadata__", ()))
    for arg in typing.get_args(hint):
        found += _metadata(arg)
    return found


# ("Product", "price") -> (0, 1e7): inclusive bounds, in the field's unit.
RANGES = _ranges()
