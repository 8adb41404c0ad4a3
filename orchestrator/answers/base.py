"""What every answer model shares: the base class, the error answer, the common field types."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict

from mixer.graphics.director import SLOTS
from orchestrator.bodies import LIVE_FIELDS
from orchestrator.fields import OneOf

Slot = Annotated[str, OneOf(tuple(SLOTS))]
LiveField = Annotated[str, OneOf(LIVE_FIELDS)]
Object = dict[str, Any]


class Answer(BaseModel):
    """An answer's model: open (a view may add a field before the model does: not a failure).

    Extra fields are kept (``extra="allow"``), so an answer serialised through its model
    (``views.common.answer``) carries everything the show built, declared or not.
    """

    model_config = ConfigDict(extra="allow")


class Error(Answer):
    """Every 4xx/5xx answer of the API."""

    error: str
