"""The default state store: this process's memory."""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
from typing import Any

from orchestrator.store import DEDUPE_WINDOW, Change, Commit, Event, ShowState, StateStore, next_state


class MemoryStore(StateStore):
    EVENTS_KEPT = 10_000

    def __init__(self) -> None:
        self._states: dict[str, ShowState] = {}
        self._events: dict[str, collections.deque[Event]] = {}
        self._lock = asyncio.Lock()
        self._docs: dict[tuple[str, str], str] = {}

    async def get(self, show: str) -> ShowState:
        return self._states.get(show) or ShowState(show=show)

    async def commit(self, show: str, change: Change, known: ShowState | None = None) -> Commit:
        async with self._lock:
            done = next_state(self._states.get(show) or ShowState(show=show), change, known)
            self._states[show] = done.state
            return done

    async def add_event(self, event: Event) -> None:
        kept = self._events.setdefault(event.show, collections.deque(maxlen=self.EVENTS_KEPT))
        if not any(e == event for e in itertools.islice(reversed(kept), DEDUPE_WINDOW)):
            kept.append(event)

    async def events(self, show: str, limit: int = 100) -> list[Event]:
        kept = self._events.get(show, ())
        return list(kept)[-limit:] if limit > 0 else []

    async def get_doc(self, show: str, name: str) -> Any:
        raw = self._docs.get((show, name))
        return None if raw is None else json.loads(raw)

    async def put_doc(self, show: str, name: str, value: Any) -> None:
        # Stored as JSON text, like Redis does: callers can't share mutable objects with the store.
        self._docs[(show, name)] = json.dumps(value, ensure_ascii=False)
