"""Writes the store must get, in order, even when it is away at the moment they happen.

Three kinds of item wait here, oldest first:

- an :class:`~orchestrator.store.Event` for the audit trail (a command's record, written
  after the command's state is stored and on air: the command happened, so a failed event
  write is retried, never reported as "nothing changed");
- a :class:`Fact`: something the media plane did on its own (a fallback, a studio joining or
  leaving). Its state change is stored when the store answers, then its events, in order;
- a :class:`Check`: a command's write whose fate the store could not tell. Once the store
  answers, if it holds exactly that state the command happened: applied, events written.

One task writes the queue front to back; a failure leaves the item at the front and the
writer retries with backoff (0.25 s doubling to 2 s), so nothing is lost or reordered
while the store is away, and everything is written when it returns.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from orchestrator.store import Change, Commit, Event, ShowState, StateStore, StoreUnavailable

log = logging.getLogger(__name__)

RETRY_MIN_S = 0.25
RETRY_MAX_S = 2.0
WRITTEN_KEPT = 1000  # events this node wrote, kept to write again after a store rollback


def _no_events(before: ShowState, after: ShowState) -> list[Event]:
    return []


@dataclass(frozen=True)
class Fact:
    """A state change the media plane made; ``events(before, after)`` are its audit lines."""

    change: Change
    events: Callable[[ShowState, ShowState], list[Event]] = field(default=_no_events)


@dataclass(frozen=True)
class Check:
    """A write that may have been stored: ``attempted``, and the events it would have made."""

    attempted: ShowState
    events: list[Event]


Item = Event | Fact | Check


class Outbox:
    """The ordered queue of one show's pending writes (see the module docstring).

    ``known`` gives the newest state the node has (the compare-and-set floor of every fact's
    commit); ``committed(commit)`` applies a stored state and returns events to write first
    (after a rollback was repaired). Neither :meth:`put` nor :meth:`flush` raises
    :class:`StoreUnavailable`.
    """

    def __init__(
        self,
        store: StateStore,
        show: str,
        known: Callable[[], ShowState],
        committed: Callable[[Commit], Awaitable[list[Event]]],
    ) -> None:
        self.store = store
        self.show = show
        self._known = known
        self._committed = committed
        self._queue: collections.deque[Item] = collections.deque()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.written: collections.deque[Event] = collections.deque(maxlen=WRITTEN_KEPT)
        self.retries = 0  # failed write attempts, for tests and metrics

    def __len__(self) -> int:
        return len(self._queue)

    def pending(self) -> list[Item]:
        """What waits to be written, oldest first."""
        return list(self._queue)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self, timeout: float = 2.0) -> None:
        """Stop retrying after one last bounded attempt; what is still queued is logged as lost."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), timeout)
        if self._queue:
            log.error("show %s: %d pending store writes lost at shutdown: %s", self.show, len(self._queue), self._queue)

    async def put(self, *items: Item) -> bool:
        """Queue ``items`` behind anything pending and write what can be written now.

        True when everything queued has been written."""
        self._queue.extend(items)
        return await self.flush()

    def put_nowait(self, *items: Item) -> None:
        self._queue.extend(items)
        self._wake.set()

    def kick(self) -> None:
        """The store may be back: try now instead of at the next retry."""
        if self._queue:
            self._wake.set()

    async def flush(self) -> bool:
        async with self._lock:
            while self._queue:
                item = self._queue[0]
                try:
                    if isinstance(item, Event):
                        await self.store.add_event(item)
                        self.written.append(item)
                        self._queue.popleft()
                    elif isinstance(item, Fact):
                        await self._commit_fact(item)
                    else:
                        await self._check(item)
                except StoreUnavailable as exc:
                    self.retries += 1
                    log.warning("show %s: %d store writes queued (%s); retrying", self.show, len(self._queue), exc)
                    self._wake.set()
                    return False
                except Exception:  # not the store being away: retrying would block the queue forever
                    log.exception("show %s: store write dropped: %r", self.show, item)
                    if self._queue and self._queue[0] is item:
                        self._queue.popleft()
            return True

    async def _commit_fact(self, fact: Fact) -> None:
        before: list[ShowState] = []

        def recorded(s: ShowState) -> ShowState:
            before.append(s)  # the state the change really applied to (a store may retry)
            return fact.change(s)

        try:
            done = await self.store.commit(self.show, recorded, self._known())
        except StoreUnavailable:
            raise
        except Exception:  # a fact the state no longer admits: drop it, keep the queue moving
            log.exception("show %s: fact dropped", self.show)
            self._queue.popleft()
            return
        self._queue.popleft()
        first = await self._committed(done)
        self._queue.extendleft(reversed([*first, *fact.events(before[-1], done.state)]))

    async def _check(self, check: Check) -> None:
        latest = await self.store.get(self.show)
        self._queue.popleft()
        if latest == check.attempted:  # stored: the command happened
            first = await self._committed(Commit(latest))
            self._queue.extendleft(reversed([*first, *check.events]))
        elif latest.version > check.attempted.version:
            log.error(
                "show %s: cannot tell whether version %d was stored (store is at %d): events %s not written",
                self.show,
                check.attempted.version,
                latest.version,
                [e.kind for e in check.events],
            )

    def replay_after(self, at: float) -> list[Event]:
        """Events this node wrote after time ``at``, oldest first (to write again after a rollback)."""
        return [e for e in self.written if e.at > at]

    async def _run(self) -> None:
        delay = RETRY_MIN_S
        while True:
            await self._wake.wait()
            self._wake.clear()
            if await self.flush():
                delay = RETRY_MIN_S
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
            self._wake.set()
