"""Child processes of a test or a bench: synthetic studios publishing to a test server, and their end.

A studio process is rooms/syntheticstudio.py's ``spawn_studio`` (FFmpeg's WHIP muxer via PyAV),
so its CPU is not the server's; :func:`stop_processes` ends it (SIGTERM: a clean WHIP DELETE).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rooms.syntheticstudio import spawn_studio

if TYPE_CHECKING:
    from tests.conftest import Server


def spawn_test_studio(
    server: Server, studio: str, label: str | None = None, *, show: str = "test-show", **options: Any
) -> subprocess.Popen[bytes]:
    """Studio ``studio`` of ``show`` publishing to ``server``'s WHIP endpoint with a fresh join token.

    ``label`` (default: the studio's id) is drawn on the picture; ``options`` go to
    ``spawn_studio`` (``width``, ``height``, ``bitrate`` in bit/s, ``pattern``, Popen's ``stderr``...).
    """
    url = f"{server.url}/whip/{show}/{studio}"
    return spawn_studio(url, server.token(studio, show), label or studio, **options)


def stop_processes(procs: Iterable[subprocess.Popen[Any] | None], timeout: float = 5) -> None:
    """SIGTERM every process still running, then SIGKILL what did not end within ``timeout`` seconds."""
    running = [proc for proc in procs if proc is not None]
    for proc in running:
        if proc.poll() is None:
            proc.terminate()
    for proc in running:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
