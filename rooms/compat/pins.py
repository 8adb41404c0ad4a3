"""How every patch of a library's internals is pinned to the upstream code it was written against.

A patch names each upstream function or class it replaces, wraps or reads in a
``PINNED`` table: name -> (the object, the first 16 hex digits of the SHA-256 of its
``inspect.getsource``).  tests/rooms/test_compat.py fails, by name, when an upgrade
changes one (it walks :func:`rooms.compat.pins`); each module's install also logs each
changed one at start (:func:`log_changed`), so a server run against an unpinned upgrade
says so on its first lines instead of a patch turning silently into a no-op.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from typing import Any

Pins = dict[str, tuple[Any, str]]
log = logging.getLogger(__name__)


def source_hash(obj: Any) -> str:
    """First 16 hex digits of the SHA-256 of an object's source code (``inspect.getsource``)."""
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


def changed(pins: Pins) -> list[str]:
    """``"name: hash now (pinned hash)"`` for every pinned object whose source is not the pinned one."""
    out = []
    for name, (obj, pinned) in pins.items():
        now = source_hash(obj)
        if now != pinned:
            out.append(f"{name}: {now} (pinned {pinned})")
    return out


def log_changed(pins: Pins) -> None:
    """Log an error per pinned object whose source is not the pinned one (an upgrade nobody
    re-read the patches against); the patches are applied all the same."""
    for line in changed(pins):
        log.error("compat: upstream source changed, re-read rooms/compat against it: %s", line)
