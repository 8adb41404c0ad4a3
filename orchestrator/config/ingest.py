"""The ingest section (``[ingest]``): how many processes receive the studios."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator
from pydantic.dataclasses import dataclass

from orchestrator.config.problems import STRICT
from orchestrator.fields import Integer, Text, short

MAX_INGEST_WORKERS = 256


def _workers(value: object) -> object:
    if value == "auto" or (type(value) is int and 0 <= value <= MAX_INGEST_WORKERS):
        return value
    raise ValueError(
        f'must be "auto" (one per core) or a number of processes 0-{MAX_INGEST_WORKERS}; got {short(value)}'
    )


@dataclass(frozen=True, config=STRICT)
class Ingest:
    """Where studios are received (rooms/ingestpool.py): ``workers`` processes ("auto": one per
    core), or 0: in the server process itself."""

    workers: Annotated[Integer | Text, BeforeValidator(_workers)] = 0
