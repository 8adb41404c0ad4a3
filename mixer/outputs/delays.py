"""A show's delay lines (mixer/outputs/delayline.py): made per output, dumped together."""

from __future__ import annotations

import logging
from collections.abc import Callable

from mixer.outputs.delayline import DelayLine
from mixer.outputs.sink import Sink
from mixer.outputs.slateclip import SlateClip

log = logging.getLogger(__name__)


class Delays:
    """Wraps a show's outputs in delay lines and holds the slate clip a dump puts in their place."""

    def __init__(self, on_need_keyframe: Callable[[], None] | None = None) -> None:
        self.on_need_keyframe = on_need_keyframe
        self.slate: SlateClip | None = None
        self.lines: dict[str, DelayLine] = {}

    def wrap(self, sink: Sink, delay_s: float, key: str = "") -> Sink:
        """``sink`` behind a delay line kept under ``key`` (default its name).

        Every output gets one, so the delay can be set while live (:meth:`set`); at 0 s a
        packet goes straight through (one lock, no copy).
        """
        line = DelayLine(sink, delay_s, slate=self.slate, on_need_keyframe=self.on_need_keyframe)
        self.lines[key or sink.name] = line
        return line

    def set(self, key: str, delay_s: float) -> float:
        """Set one output's delay; the old value.  KeyError: no such output; ValueError: not 0-60 s."""
        line = self.lines[key]
        old = line.delay_s
        line.set_delay(delay_s)
        return old

    def forget(self, key: str) -> None:
        self.lines.pop(key, None)

    def set_slate(self, slate: SlateClip) -> None:
        self.slate = slate
        for line in self.lines.values():
            line.slate = slate

    def dump(self, until: float | None = None) -> dict[str, int]:
        """Dump every delayed output; packets replaced by the slate, per output that held any.

        ``until``: the program clock's time now (see :meth:`DelayLine.dump`).
        """
        dumped = {key: line.dump(until) for key, line in list(self.lines.items()) if line.delay_s > 0}
        return {key: n for key, n in dumped.items() if n}

    def status(self) -> dict[str, dict[str, object]]:
        """Per delayed output: its delay and how far behind the live program it is now."""
        out: dict[str, dict[str, object]] = {}
        for key, line in list(self.lines.items()):
            s = line.status()
            if not line.delay_s and not s["held_packets"]:
                continue  # not delayed (and nothing left from an earlier delay)
            out[key] = {k: s[k] for k in ("delay_s", "behind_s", "held_seconds", "held_bytes", "dumps", "last_dump")}
        return out
