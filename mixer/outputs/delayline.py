"""Broadcast delay (延播) for one output: the encoded packets, held back a fixed time, then passed on.

The delay sits AFTER the one encode: a :class:`DelayLine` is a :class:`Sink` in front of
another sink (HLS, HTTP-FLV, WHEP, an RTMP push, the webhook) and holds every packet
(video, audio and timed metadata alike, so the cues stay with their frames) for
``delay_s`` seconds of wall time from its arrival.  Memory is the stream's bytes for the
delay (plus ~200 bytes of bookkeeping a packet): measured in ``bench/delayline.py``.

Release is driven by the packets themselves: every ``put`` (the encoder thread, ~80 a
second with audio) first passes on everything that is due, so an output airs at most one
packet interval (~21 ms) late, and no thread is added per output.

**Dump** (:meth:`dump`): everything held and not yet aired is replaced, in place and with
the same timestamps, by the slate (:class:`~mixer.outputs.slateclip.SlateClip`: its IDR
first, then its P-frames; silent audio; the held cues are dropped and one
``broadcast.dumped`` cue marks the place).  The output's timeline stays continuous and the
delay stays what it was: viewers see the slate for the dumped seconds, where the mistake
would have been.  Live video that follows is still slate until its next keyframe (a P-frame
needs the picture before it, which is gone); ``on_need_keyframe`` asks for one at once.

Changing the delay while live (:meth:`set_delay`) affects packets from then on, in order:
a longer delay holds the output still for the added time (players wait), a shorter one
releases the held packets faster than real time once they are due.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.sink import Sink
from mixer.outputs.slateclip import SlateClip

MAX_DELAY = 60.0  # seconds: the range, and a bound on memory
PACKET_OVERHEAD = 200  # bytes of bookkeeping per held packet (tuple, dataclass, bytes header): measured


class DelayLine(Sink):
    """``inner`` fed ``delay_s`` seconds late; ``put`` never blocks (the inner sink's ``put`` does not)."""

    def __init__(
        self,
        inner: Sink,
        delay_s: float,
        *,
        slate: SlateClip | None = None,
        on_need_keyframe: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.audio_codec = inner.audio_codec  # type: ignore[misc]  # the encode the inner sink needs
        self.accepts_data = inner.accepts_data  # type: ignore[misc]
        self.delay_s = check_delay(delay_s)
        self.slate = slate
        self.on_need_keyframe = on_need_keyframe
        self._clock = clock
        self._held: deque[tuple[float, EncodedPacket]] = deque()  # (due, packet), FIFO
        self._held_bytes = 0
        self._lock = threading.Lock()  # put (encoder thread) against dump/status (event loop)
        self._slating = False  # after a dump: live video is slate until its next keyframe
        self._slate_until: float | None = None  # program seconds: packets of frames made before are slate too
        self._media = inner.wants_media  # False: hold cues only (the webhook)
        self._slate_index = 0
        self._last_aired: float | None = None  # arrival time of the packet aired last
        self._closed = False
        self._fps = 30
        self.dumps = 0
        self.dumped_packets = 0
        self.last_dump: dict[str, object] | None = None

    @property
    def idle(self) -> bool:
        # As idle as the output now (WHEP with no viewer: no Opus encode); what is held
        # without Opus reaches a viewer who joins within the delay as video only.
        return self.inner.idle

    def start(self, fmt: ProgramFormat) -> None:
        self._fps = fmt.fps
        self.inner.start(fmt)

    def put(self, packet: EncodedPacket) -> None:
        now = self._clock()
        with self._lock:
            if self._closed:
                return
            held: EncodedPacket | None = packet
            if packet.kind != "data" and not self._media:
                held = None  # not for this output, but its arrival still moves the line on
            elif self._slating:
                held = self._after_dump(packet)
            if held is not None and self.delay_s <= 0 and not self._held:
                due = [held]
                self._last_aired = now
            else:
                if held is not None:
                    self._held.append((now + self.delay_s, held))
                    self._held_bytes += len(held.data)
                due = self._take_due(now)
        for item in due:  # the inner put only queues: never blocks
            self.inner.put(item)

    def _take_due(self, now: float) -> list[EncodedPacket]:
        held, due = self._held, []
        while held and held[0][0] <= now:
            at, packet = held.popleft()
            self._held_bytes -= len(packet.data)
            self._last_aired = at - self.delay_s
            due.append(packet)
        return due

    def set_delay(self, delay_s: float) -> None:
        """A new delay for packets from now on (0-60 s); ValueError outside that range."""
        self.delay_s = check_delay(delay_s)

    def dump(self, until: float | None = None) -> int:
        """Replace every held packet with the slate (see the module doc); the number replaced.

        ``until`` (program clock seconds, the dump's moment): packets of frames made before
        it that are still on their way (the encoder's queue, up to 8 frames) are slate too
        when they arrive.  Without a slate clip (not made yet) the held packets are dropped
        instead and the output resumes at the next live keyframe.
        """
        with self._lock:
            held = list(self._held)
            if until is not None:
                self._slate_until = until
            if not held:
                return 0
            self._slate_index = 0
            kept: deque[tuple[float, EncodedPacket]] = deque()
            marked = not self.accepts_data
            for due, packet in held:
                if not marked:
                    marked = True
                    kept.append((due, _dump_cue(packet, self._fps)))
                if packet.kind == "data":
                    continue
                slated = self._slated(packet)
                if slated is not None:
                    kept.append((due, slated))
            self._held = kept
            self._held_bytes = sum(len(p.data) for _, p in kept)
            self._slating = True
            self.dumps += 1
            self.dumped_packets += len(held)
            seconds = round(held[-1][0] - held[0][0], 2)
            self.last_dump = {"at": time.time(), "packets": len(held), "seconds": seconds}
        if self.on_need_keyframe is not None:
            self.on_need_keyframe()
        return len(held)

    def _slated(self, packet: EncodedPacket) -> EncodedPacket | None:
        slate = self.slate
        if slate is None:
            return None
        if packet.kind == "video":
            index = self._slate_index % len(slate.video)
            self._slate_index += 1
            return replace(packet, data=slate.video[index], keyframe=index == 0)
        silence = slate.opus_silence if self.audio_codec == "opus" else slate.aac_silence
        return replace(packet, data=silence)

    def _after_dump(self, packet: EncodedPacket) -> EncodedPacket | None:
        until = self._slate_until
        if until is not None:
            if packet.pts * packet.time_base <= until:  # made before the dump: slate, or dropped (a cue)
                return None if packet.kind == "data" else self._slated(packet)
            self._slate_until = None
        if packet.kind != "video":
            return packet
        if packet.keyframe:
            self._slating = False
            return packet
        return self._slated(packet)  # None without a slate: the P-frame is useless without its reference

    def close(self) -> None:
        """Drop what is held (it never airs) and close the inner sink."""
        with self._lock:
            self._closed = True
            self._held.clear()
            self._held_bytes = 0
        self.inner.close()

    def status(self) -> dict[str, object]:
        now = self._clock()
        with self._lock:
            held = len(self._held)
            span = self._held[-1][0] - self._held[0][0] if held > 1 else 0.0
            last = self._last_aired
            if last is None and held:  # nothing aired yet: behind by what the oldest packet waited
                last = self._held[0][0] - self.delay_s
        behind = round(now - last, 2) if last is not None and held else 0.0
        if not self._media:  # cues only (the webhook): often nothing held, always this far behind
            behind = self.delay_s
        return {
            **self.inner.status(),
            "delay_s": self.delay_s,
            # How far behind the live program this output is right now (what the crew sees).
            "behind_s": behind,
            "held_seconds": round(span, 2),
            "held_packets": held,
            "held_bytes": self._held_bytes,
            "dumps": self.dumps,
            "last_dump": self.last_dump,
        }


def check_delay(delay_s: float) -> float:
    if not isinstance(delay_s, int | float) or isinstance(delay_s, bool) or not 0 <= delay_s <= MAX_DELAY:
        raise ValueError(f"delay must be a number of seconds from 0 to {MAX_DELAY:g}")
    return float(delay_s)


def _dump_cue(packet: EncodedPacket, fps: int) -> EncodedPacket:
    """The ``broadcast.dumped`` cue at the first dumped packet's time (video time base)."""
    tick = int(packet.pts * packet.time_base * fps)
    body = {"id": f"dump{tick}", "event": "broadcast.dumped", "stream_time": round(tick / fps, 3)}
    data = json.dumps(body, separators=(",", ":")).encode()
    return EncodedPacket("data", data, tick, tick, Fraction(1, fps), False)
