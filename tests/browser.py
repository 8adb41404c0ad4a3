"""What the test browsers (tests/chromium.py, tests/firefox.py) share: waiting on a page
condition, and ending a browser by its PID with the process group it leads."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def poll(
    evaluate: Callable[[str], Awaitable[Any]],
    expression: str,
    console: list[str],
    *,
    timeout: float,
    interval: float,
    errors: tuple[type[BaseException], ...],
) -> Any:
    """Evaluate ``expression`` until truthy; returns its value.

    ``errors`` (the page's JS exceptions) count as not yet; TimeoutError names the
    expression, its last value and the page's console tail.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        with contextlib.suppress(*errors):
            last = await evaluate(expression)
            if last:
                return last
        if time.monotonic() > deadline:
            tail = "\n".join(console[-15:])
            raise TimeoutError(f"waited {timeout}s for {expression!r} (last {last!r}); console:\n{tail}")
        await asyncio.sleep(interval)


def end_process_group(proc: subprocess.Popen[bytes], grace: float = 5) -> None:
    """End a browser started with ``start_new_session=True``: SIGTERM to its group, SIGKILL after ``grace``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    # Children that outlived the browser (same group): make sure they go too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
