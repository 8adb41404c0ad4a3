"""aiortc's NACK generator (RFC 4585 6.2.1), made to ask again per packet; pinned.

aiortc 1.16's ``NackGenerator`` NACKs a missing packet at once, and again only when a *new*
gap appears (then for everything missing at once). :class:`RetryingNackGenerator` is the
one our video receive path (rooms/compat/aiortcreceive.py) puts on each receiver.
Removed by: an aiortc NACK generator that waits out reordering and asks again per packet
after a repair round trip.
"""

from __future__ import annotations

import time
from typing import Any

from aiortc.rtcrtpreceiver import NackGenerator
from aiortc.rtp import RtpPacket

from rooms.compat.pins import Pins
from rooms.framebuffer import FrameBuffer
from rooms.repairtimes import RETRY_FACTOR

PINNED: Pins = {
    # subclassed: add() and its ``missing`` set, as RTCRtpReceiver calls them
    "NackGenerator": (NackGenerator, "4e89418b046d6ffc"),
}

MAX_NACKS_PER_PACKET = 3
REORDER_S = 0.005  # a gap younger than this is probably reordering (packets 1-3 ms apart)


class RetryingNackGenerator(NackGenerator):
    """aiortc's NACK generator (RFC 4585 6.2.1), a little more patient and more persistent.

    * A new gap is NACKed once it is ``REORDER_S`` old (aiortc NACKs at once): with
      jitter most gaps are packets overtaken by the next ones, not lost.
    * A packet still missing is asked for again ``RETRY_FACTOR`` measured repair round
      trips after its own last NACK (aiortc asks again only when a new gap shows up, and
      then for everything at once), at most ``MAX_NACKS_PER_PACKET`` times, and never
      once the frame buffer has moved past it.

    aiortc sends ``missing`` whenever ``add`` returns True, so between calls it holds
    only the packets due now; the others wait in ``_held``.
    """

    def __init__(self, buffer: FrameBuffer, clock: Any = time.monotonic) -> None:
        super().__init__()
        self._buffer = buffer
        self._clock = clock
        self._held: set[int] = set()  # missing, not due yet
        self._noticed: dict[int, float] = {}  # seq -> when its absence was seen
        self._tries: dict[int, int] = {}  # seq -> NACKs sent for it
        self._last_nack: dict[int, float] = {}
        self._first_nack: dict[int, float] = {}  # seq -> first NACK (for the repair round trip)
        # Set by ReceivePath for each packet: it came as a retransmission (RTX, RFC 4588), or
        # None when the sender has no RTX (then any late arrival counts as a repair).
        self.retransmission: bool | None = None

    def add(self, packet: RtpPacket) -> bool:
        now = self._clock()
        seq = packet.sequence_number
        asked = self._first_nack.pop(seq, None)
        if asked is not None and self.retransmission is not False:
            # Only real repairs time the round trip: an overtaken original arriving just after
            # its NACK would make it look far shorter than it is (and gaps be given up too soon).
            self._buffer.repairs.note(now - asked)
        self.missing |= self._held
        self._held = set()
        super().add(packet)
        for lost in [s for s in self.missing if self._buffer.passed(s)]:
            self.missing.discard(lost)
        for table in (self._noticed, self._tries, self._last_nack, self._first_nack):
            for gone in [s for s in table if s not in self.missing]:
                del table[gone]
        retry = max(RETRY_FACTOR * self._buffer.repairs.median, 0.03)
        due: set[int] = set()
        for lost in self.missing:
            if lost not in self._tries:
                if now - self._noticed.setdefault(lost, now) >= REORDER_S:
                    due.add(lost)
            elif self._tries[lost] < MAX_NACKS_PER_PACKET and now - self._last_nack[lost] >= retry:
                due.add(lost)
        self._held = {s for s in self.missing - due if self._tries.get(s, 0) < MAX_NACKS_PER_PACKET}
        self.missing = due
        for lost in due:
            self._tries[lost] = self._tries.get(lost, 0) + 1
            self._last_nack[lost] = now
            self._first_nack.setdefault(lost, now)
        return bool(due)
