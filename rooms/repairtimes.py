"""How long a lost video packet takes to be repaired here (first NACK -> the packet), as measured.

The frame buffer (rooms/framebuffer.py) holds a gap for ``NACK_ROUNDS`` repair round trips
before giving up on it; the NACK generator (rooms/compat/aiortcnack.py) asks again for a
packet ``RETRY_FACTOR`` median round trips after its last NACK. Both read one
:class:`RepairTimes` per video stream, fed by the NACK generator.
"""

from __future__ import annotations

import collections

NACK_ROUNDS = 3  # the first NACK and two more (RetryingNackGenerator asks again after RETRY_FACTOR round trips)
RETRY_FACTOR = 1.2
SAMPLES = 64  # the last repairs the figures are taken from


class RepairTimes:
    """The last ``SAMPLES`` repair round trips of one stream, in seconds.

    ``delay`` is their 90th percentile, ``median`` their median; until the first repair they
    are a typical WAN round trip (0.1 s, 0.08 s).
    """

    def __init__(self) -> None:
        self._samples: collections.deque[float] = collections.deque(maxlen=SAMPLES)
        self.delay = 0.1
        self.median = 0.08

    def note(self, seconds: float) -> None:
        """A NACKed packet arrived ``seconds`` after the first NACK for it."""
        self._samples.append(seconds)
        ordered = sorted(self._samples)
        self.delay = ordered[int(0.9 * (len(ordered) - 1))]
        self.median = ordered[(len(ordered) - 1) // 2]

    def gap_wait(self, min_wait: float, max_wait: float) -> float:
        """How long a gap may hold the stream (s): ``NACK_ROUNDS`` repair round trips, within the bounds."""
        rounds = 1 + (NACK_ROUNDS - 1) * RETRY_FACTOR
        return min(max(rounds * self.delay, min_wait), max_wait)
