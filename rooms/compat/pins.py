"""How every patch of a library's internals is pinned to the upstream code it was written against.

A patch names each upstream function or class it replaces, wraps or reads in a
``PINNED`` table: name -> (the object, the first 16 hex digits of the SHA-256 of its
``inspect.getsource``).  tests/rooms/test_compat.py fails, by name, when an upgrade
changes one; :func:`rooms.compat.install` also logs each changed one at start, so a
server run against an unpinned upgrade says so on its first lines instead of a patch
turning silently into a no-op.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

Pins = dict[str, tuple[Any, str]]


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
