"""The one way the server answers JSON: an answer model (orchestrator/answers/) serialised.

Views answer through :func:`answer`; the error middleware and the relay through
:func:`error_answer` (the ``Error`` model), so every JSON body the API sends has the shape the
OpenAPI document gives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from orchestrator.answers import Answer, Error


def answer(value: Answer, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """``value`` as the JSON body (``application/json``, UTF-8), with ``status`` and ``headers``.

    Exactly the fields the model was given are sent (``exclude_unset``: an optional field the show
    left out stays out), under their wire names (``by_alias``: ``from``), extra fields included.
    """
    text = value.model_dump_json(by_alias=True, exclude_unset=True)
    return web.Response(text=text, status=status, content_type="application/json", headers=headers)


def as_json(value: Answer) -> dict[str, Any]:
    """``value`` as the JSON object :func:`answer` sends: for a message inside another (a WebSocket push)."""
    return value.model_dump(mode="json", by_alias=True, exclude_unset=True)


def error_answer(message: str, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    """``{"error": message}`` with a 4xx/5xx ``status``: every refusal's body."""
    return answer(Error(error=message), status=status, headers=headers)
