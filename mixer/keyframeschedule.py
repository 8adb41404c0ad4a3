"""Where the program's keyframes go: the first frame of every second of the program clock, plus
forced ones that WebRTC viewers ask for (PLI/FIR, a new viewer), at most one per 500 ms.

On the clock's time grid, not on a frame count: a dropped frame must not cost the CDN its
regular 1 s GOP.
"""

from __future__ import annotations

from typing import Literal


class KeyframeSchedule:
    """Decides, per encoded tick, whether its picture is a keyframe. ``fps``: program frames/s.

    :meth:`request` may be called from any thread; :meth:`due` from the encoder thread only.
    """

    MIN_FORCED_KEY_GAP = 0.5  # seconds between a keyframe and a forced one

    def __init__(self, fps: int) -> None:
        self._fps = fps
        self.wanted = False  # a viewer asked for a keyframe; served when the rate limit allows
        self._last_key = -(10**9)  # tick of the last keyframe
        self._next_regular_key = 0  # first tick of the next GOP second
        self._min_key_gap = max(1, round(self.MIN_FORCED_KEY_GAP * fps))

    def request(self) -> None:
        """Ask for a keyframe soon: at once, or 500 ms after the last one."""
        self.wanted = True

    def due(self, tick: int) -> Literal["regular", "forced"] | None:
        """Whether the picture of ``tick`` must be a keyframe: ``regular`` (a new second of the
        clock), ``forced`` (a request served), or None; a keyframe returned is counted as placed."""
        regular = tick >= self._next_regular_key
        forced = self.wanted and tick - self._last_key >= self._min_key_gap
        if not (regular or forced):
            return None
        self._last_key = tick
        self.wanted = False
        if not regular:
            return "forced"
        self._next_regular_key = (tick // self._fps + 1) * self._fps
        return "regular"
