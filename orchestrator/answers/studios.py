"""The crew's hold on studios: join links, a kick, a host's cue."""

from __future__ import annotations

from typing import Literal

from orchestrator.answers.base import Answer
from orchestrator.store import Cue


class JoinLink(Answer):
    show: str
    studio: str
    name: str | None = None
    token: str
    join_url: str
    whip_url: str
    # Only with server.rtmp_ingest: for encoders without WebRTC (the stream key is the token).
    rtmp_url: str | None = None
    rtmp_server: str | None = None
    rtmp_key: str | None = None


class LinkList(Answer):
    links: list[JoinLink]


class CueAnswer(Answer):
    studio: str
    cue: Cue
    version: int


class Kicked(Answer):
    studio: str
    kicked: Literal[True]
    link_generation: int
