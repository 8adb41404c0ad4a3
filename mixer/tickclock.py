"""The program's fixed-rate clock: a thread that calls one function per tick, on time or counted late.

Tick n is due at ``start + n / fps``; n is the output pts, whatever else is late.  A tick that
starts more than one period late counts as late; beyond ``MAX_CATCH_UP`` ticks behind (the
machine stalled) the clock skips ahead instead of bursting, and the skipped ticks keep their
time: the output simply has no frames for them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class TickClock:
    """Calls ``tick(n)`` ``fps`` times a second in its own thread; ``on_start(time_origin)`` first.

    ``time_origin``: UNIX seconds of tick 0 (None until the clock runs), the one mapping from the
    program clock to the wall clock (HLS program date time). An exception in ``tick`` is logged
    and the clock goes on.
    """

    # Beyond this many ticks behind, skip ahead rather than race to catch up.
    MAX_CATCH_UP = 15

    def __init__(
        self, fps: int, tick: Callable[[int], None], on_start: Callable[[float], None], name: str = "program-clock"
    ) -> None:
        self.fps = fps
        self._tick = tick
        self._on_start = on_start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.time_origin: float | None = None
        self.started_at = 0.0  # time.monotonic() of tick 0
        self.ticks = 0
        self.late_ticks = 0
        self.skipped_ticks = 0
        self.lag = 0.0  # seconds the last tick started after its due time

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        """Stop ticking; waits up to ``timeout`` seconds for a tick in progress (blocking)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        period = 1.0 / self.fps
        self.started_at = start = time.monotonic()
        self.time_origin = time.time() - (time.monotonic() - start)
        self._on_start(self.time_origin)
        n = 0
        while not self._stop.is_set():
            due = start + n * period
            now = time.monotonic()
            if due > now:
                if self._stop.wait(due - now):
                    return
            elif now - due > period:
                self.late_ticks += 1
                behind = int((now - due) / period)
                if behind > self.MAX_CATCH_UP:
                    # Far behind (machine stalled): resynchronise instead of bursting. The
                    # skipped ticks keep their time: the output has no frames for them.
                    self.skipped_ticks += behind
                    n += behind
            self.lag = max(0.0, time.monotonic() - (start + n * period))
            try:
                self._tick(n)
            except Exception:
                log.exception("program tick failed")
            n += 1
            self.ticks += 1
