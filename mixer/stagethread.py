"""A codec stage that runs in a thread of its own: waiting for it to end, and asking whether it runs."""

from __future__ import annotations

import threading


class StageThread:
    """Mix-in for a stage whose work runs in ``self._thread`` (set in its ``__init__``)."""

    _thread: threading.Thread

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the thread; True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()
