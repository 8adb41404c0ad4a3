"""Talk and listen (orchestrator/returnfeeds.py): the return feeds and the crew's talkbacks."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from orchestrator.answers.base import Answer, Object

TalkTargets = Annotated[list[str] | Literal["all"], Field(description="the studios who hear it, or all")]


class Talking(Answer):
    operator: str
    targets: TalkTargets


class TalkAndListen(Answer):
    """The show's return feeds and talkbacks."""

    returns: int = Field(description="hosts' return feeds open")
    returns_connected: int
    returns_total: int = Field(description="return feeds opened since the show started on this node")
    return_studios: list[str]
    talkbacks: int = Field(description="operator microphones connected")
    talkbacks_open: int = Field(description="of those, talking now")
    talkbacks_total: int
    talking: list[Talking]
    picture: Object = Field(description="the shared return picture encode")
    audio: Object | None = Field(description="the return sound's Opus thread (null while no host listens)")
    feeds: list[Object]
    talkback_sessions: list[Object]
    at: float


class TalkClosed(Answer):
    id: str
    state: Literal["closed"]


class TalkKeyed(Talking):
    """An operator's talkback after a press or a release."""

    id: str
    on: bool
    state: str
