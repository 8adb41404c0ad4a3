"""The one way the server answers JSON: an answer model (orchestrator/answers/) serialised.

Views answer through :func:`answer`; the error middleware and the relay through
:func:`error_answer` (the ``Error`` model), so every JSON body the API sends has the shape the
OpenAPI document gives it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, TypeVar

from aiohttp import web
from pydantic import ValidationError

from orchestrator.answers import Answer, Error

A = TypeVar("A", bound=Answer)
log = logging.getLogger(__name__)
# Set by the test suite: an answer that drifted from its model fails the test instead.
STRICT_ENV = "BROADCAST_STRICT_ANSWERS"


def shape(model: type[A], data: Any) -> A:
    """``data`` (what the show built) as the answer model ``model``.

    A body that does not fit its model is a bug of ours, found after the change it reports was
    made: it is logged (error) and sent as it is, never turned into a 500 for a command that
    happened or a control page left without its state. With ``BROADCAST_STRICT_ANSWERS=1`` (the
    tests) it raises ``pydantic.ValidationError`` instead.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        if os.environ.get(STRICT_ENV) == "1":
            raise
        log.error("answer does not fit %s (sent as built): %s", model.__name__, exc.errors()[:3])
        return model.model_construct(**data) if isinstance(data, dict) else model.model_construct()


def answer(value: Answer, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """``value`` as the JSON body (``application/json``, UTF-8), with ``status`` and ``headers``.

    Exactly the fields the model was given are sent (``exclude_unset``: an optional field the show
    left out stays out), under their wire names (``by_alias``: ``from``), extra fields included.
    """
    text = value.model_dump_json(by_alias=True, exclude_unset=True, warnings=False)
    return web.Response(text=text, status=status, content_type="application/json", headers=headers)


def as_json(value: Answer) -> dict[str, Any]:
    """``value`` as the JSON object :func:`answer` sends: for a message inside another (a WebSocket push)."""
    return value.model_dump(mode="json", by_alias=True, exclude_unset=True, warnings=False)


def error_answer(message: str, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    """``{"error": message}`` with a 4xx/5xx ``status``: every refusal's body."""
    return answer(Error(error=message), status=status, headers=headers)
