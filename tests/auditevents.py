"""The audit trail as a test reads it: who wrote an event, and the events a test caused.

Background actors write events at any time, between a test's action and its read or between
two reads: the server itself (actor ``"system"``: alarms, outputs going down and up, RTMP
destinations retrying, fallbacks, restores, cluster moves; ``"system:{what}"``, e.g. a card's
countdown ending) and studio liveness (actor ``"studio:{id}"``: a studio with no media on a
loaded box leaves, and joins again).  A test that checks the newest event, or counts events,
looks only at the actors it means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from orchestrator.store import Event

E = TypeVar("E", Event, Mapping[str, Any])

SYSTEM = "system"
STUDIO = "studio:"


def actor_of(event: Event | Mapping[str, Any]) -> str:
    """The actor of a stored ``Event`` or of one from ``GET /api/shows/{show}/events``."""
    return event.actor if isinstance(event, Event) else str(event["actor"])


def kind_of(event: Event | Mapping[str, Any]) -> str:
    return event.kind if isinstance(event, Event) else str(event["kind"])


def is_background(event: Event | Mapping[str, Any]) -> bool:
    """Written by the system or by a studio's comings and goings, not by an operator."""
    actor = actor_of(event)
    return actor == SYSTEM or actor.startswith((SYSTEM + ":", STUDIO))


def commands(events: Iterable[E]) -> list[E]:
    """The events an operator's command wrote (neither the system's nor a studio's), in order."""
    return [e for e in events if not is_background(e)]


def of_studio(events: Iterable[E], studio: str) -> list[E]:
    """The events a studio's own comings and goings wrote (actor ``studio:{studio}``), in order."""
    return [e for e in events if actor_of(e) == STUDIO + studio]


def kinds(events: Iterable[Event | Mapping[str, Any]]) -> list[str]:
    return [kind_of(e) for e in events]
