"""The default state store: this process's memory."""

from __future__ import annotations

import asyncio
import collections
import dataclasses

from orchestrator.store import Change, Event, ShowState, StateStore


class MemoryStore(StateStore):
    EVENTS_KEPT = 10_000

    def __init__(self) -> None:
        self._states: dict[str, ShowState] = {}
        self._events: dict[str, collections.deque[Event]] = {}
        self._lock = asyncio.Lock()

    async def get(self, show: str) -> ShowState:
        return self._states.get(show) or ShowState(show=show)

    async def update(self, show: str, change: Change) -> ShowState:
        async with self._lock:
            old = self._states.get(show) or ShowState(show=show)
            new = dataclasses.replace(change(old), version=old.version + 1)
            self._states[show] = new
            return new

    async def add_event(self, event: Event) -> None:
        self._events.setdefault(event.show, collections.deque(maxlen=self.EVENTS_KEPT)).append(event)

    async def events(self, show: str, limit: int = 100) -> list[Event]:
        kept = self._events.get(show, ())
        return list(kept)[-limit:] if limit > 0 else []
