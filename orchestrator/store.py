"""Show state behind one interface, so memory and Redis are interchangeable.

Every command reads and writes through :class:`StateStore`; the media plane
only ever sees the result (a :class:`mixer.program.Scene`).
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ShowState:
    show: str
    program: str | None = None
    preview: str | None = None
    online: tuple[str, ...] = ()
    version: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShowState:
        return cls(
            show=data["show"],
            program=data.get("program"),
            preview=data.get("preview"),
            online=tuple(data.get("online", ())),
            version=int(data.get("version", 0)),
        )


@dataclass(frozen=True)
class Event:
    """One line of the audit trail: what happened, to what, who did it."""

    kind: str
    show: str
    actor: str = "system"
    detail: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Change = Callable[[ShowState], ShowState]


class StoreUnavailable(Exception):
    """The store cannot be reached or did not answer within its timeout.

    The operation most likely did not happen; only a connection lost during an
    update's commit leaves it unknown (the new state is then visible through ``get``).
    """


class StateStore(abc.ABC):
    @abc.abstractmethod
    async def get(self, show: str) -> ShowState: ...

    @abc.abstractmethod
    async def update(self, show: str, change: Change) -> ShowState:
        """Apply ``change`` atomically against the latest state; returns the new state."""

    @abc.abstractmethod
    async def add_event(self, event: Event) -> None: ...

    @abc.abstractmethod
    async def events(self, show: str, limit: int = 100) -> list[Event]:
        """Newest last."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        pass
