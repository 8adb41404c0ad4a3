"""The control pages' live state: built once per show and fanned out to every open page.

One :class:`LiveState` per show (created by :class:`LiveStates` on the show's first page,
stopped when its last page leaves) wakes on every change of the show and once per period
for the stats and meters. Each time it describes the show once, validates it into the
``Show`` answer once, serialises the message once and reads the last events from the store
once; every page gets the same text. A page receives the events newer than its own cursor
(the latest event when it connected), in order, each once.

Each page has a bounded queue (:class:`LivePage`): a page that cannot keep up loses its
oldest *state* messages (a newer state supersedes them) and warnings, never an event; a page
so far behind that only events fill its queue, or that has taken nothing from it for
:data:`STALL_S`, is told to close, so it reconnects and reloads. A slow page never delays
the others: the producer only appends to queues.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import Callable

from orchestrator.answers import Show
from orchestrator.showrunner import ShowRunner
from orchestrator.store import Event, StateStore, StoreUnavailable
from orchestrator.views.answer import as_json, shape

log = logging.getLogger(__name__)

EVENTS_PER_READ = 50  # the events read per state; a page that missed more is told to reload
MAX_PENDING = 200  # messages queued for one page; past this its oldest state goes (an event never)
STALL_S = 30.0  # a page that has taken nothing from its queue for this long is closed
WARNING = json.dumps({"type": "warning", "message": "state store unavailable"})


class LivePage:
    """One page's queue of ready-to-send WebSocket texts, bounded at :data:`MAX_PENDING`.

    :meth:`put` never blocks; when the queue is full it drops the oldest droppable message
    (a state or warning); with none to drop, or after :data:`STALL_S` without a :meth:`get`,
    :attr:`behind` is set and the page should be closed.
    """

    def __init__(self, event_cursor: float) -> None:
        self.event_cursor = event_cursor  # the ``at`` of the newest event queued (or seen at connect)
        self.behind = asyncio.Event()
        self.dropped = 0  # state and warning messages dropped so far
        self._queue: collections.deque[tuple[str, bool]] = collections.deque()
        self._ready = asyncio.Event()
        self._waiting_since = 0.0  # when the page last took a message, or its queue last became non-empty

    def put(self, text: str, droppable: bool) -> None:
        if self.behind.is_set():
            return
        now = asyncio.get_running_loop().time()
        if not self._queue:
            self._waiting_since = now
        elif now - self._waiting_since > STALL_S:
            self.behind.set()
            return
        if len(self._queue) >= MAX_PENDING:
            oldest = next((i for i, (_, d) in enumerate(self._queue) if d), None)
            if oldest is None:  # only events: dropping one would lie to the crew
                self.behind.set()
                return
            del self._queue[oldest]
            self.dropped += 1
        self._queue.append((text, droppable))
        self._ready.set()

    async def get(self) -> str:
        """The next text to send, waiting for one."""
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        self._waiting_since = asyncio.get_running_loop().time()
        return self._queue.popleft()[0]

    def __len__(self) -> int:
        return len(self._queue)


class LiveState:
    """The producer of one show's live state for its control pages (see the module docstring).

    ``node`` is the cluster node running the show (None outside a cluster); ``every`` the
    period of the timed refresh in seconds (state changes are pushed at once).
    """

    def __init__(self, runner: ShowRunner, store: StateStore, node: str | None, every: float) -> None:
        self.runner = runner
        self.pages: set[LivePage] = set()
        self._store = store
        self._node = node
        self._every = every
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def join(self, event_cursor: float) -> LivePage:
        """A new page: it gets the next state (built at once) and the events newer than ``event_cursor``."""
        page = LivePage(event_cursor)
        self.pages.add(page)
        self._wake.set()
        if self._task is None or self._task.done():  # first page, or the producer failed: (re)start it
            self._task = asyncio.ensure_future(self._run())
        return page

    def leave(self, page: LivePage) -> None:
        self.pages.discard(page)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        changes = self.runner.changes.subscribe()
        try:
            while True:
                try:
                    await self._tick()
                except Exception:  # a bug in describing the show: the pages reconnect to a new producer
                    log.exception("show %s: live state failed; closing its control pages", self.runner.show.id)
                    for page in self.pages:
                        page.behind.set()
                    return
                self._wake.clear()
                waits = {asyncio.ensure_future(changes.get()), asyncio.ensure_future(self._wake.wait())}
                try:
                    await asyncio.wait(waits, timeout=self._every, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waits:
                        waiter.cancel()
        finally:
            self.runner.changes.unsubscribe(changes)

    async def _tick(self) -> None:
        state = as_json(shape(Show, await self.runner.describe()))  # GET /api/shows/{show}'s answer
        text = json.dumps({"type": "state", "state": state, "node": self._node})
        try:
            events: list[Event] | None = await self._store.events(self.runner.show.id, EVENTS_PER_READ)
        except StoreUnavailable:
            events = None
        texts: dict[int, str] = {}  # each event serialised once, for the pages that need it
        for page in list(self.pages):
            page.put(text, droppable=True)
            if events is None:
                page.put(WARNING, droppable=True)
                continue
            if len(events) == EVENTS_PER_READ and events[0].at > page.event_cursor:
                page.behind.set()  # more events came since its last one than one read holds: reload
                continue
            for i, event in enumerate(events):
                if event.at > page.event_cursor:
                    page.event_cursor = event.at
                    if i not in texts:
                        texts[i] = json.dumps({"type": "event", "event": event.to_json()})
                    page.put(texts[i], droppable=False)


class LiveStates:
    """The producers of this node's shows, one per runner with at least one page."""

    def __init__(self) -> None:
        self._by_runner: dict[ShowRunner, LiveState] = {}

    def of(self, runner: ShowRunner) -> LiveState | None:
        """The show's producer while it has pages."""
        return self._by_runner.get(runner)

    def join(
        self, runner: ShowRunner, make: Callable[[], LiveState], event_cursor: float
    ) -> tuple[LiveState, LivePage]:
        live = self._by_runner.get(runner)
        if live is None:
            live = self._by_runner[runner] = make()
        return live, live.join(event_cursor)

    async def leave(self, live: LiveState, page: LivePage) -> None:
        """The page is gone; the show's producer stops with its last page."""
        live.leave(page)
        if not live.pages and self._by_runner.get(live.runner) is live:
            del self._by_runner[live.runner]
            await live.stop()

    async def stop(self) -> None:
        lives = list(self._by_runner.values())
        self._by_runner.clear()
        for live in lives:
            await live.stop()
