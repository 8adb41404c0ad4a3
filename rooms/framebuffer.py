"""A studio's video jitter buffer: whole frames, in order, never a frame the decoder cannot use.

aiortc's own video jitter buffer releases a frame only when every packet before it
has arrived: one packet that NACK does not recover holds the whole video behind it
until 512 packets pile up (seconds at 720p), then bursts; and when it finally drops
packets it hands the decoder inter frames whose references are gone (a smeared,
broken picture). This buffer instead:

* releases a frame as soon as all of its packets are in (the marker bit ends it,
  RFC 3550 5.1 / RFC 6184 5.1 / RFC 7741 4.1), in sequence order, packets reordered
  by the network are put back in order;
* waits for a missing packet long enough for NACK to ask twice more
  (``NACK_ROUNDS``: the retransmission or the NACK can be lost too), timed from
  the NACK round trips it measures (rooms/repairtimes.py), at most ``max_wait``; then skips to the next
  frame whose start is known; a whole keyframe behind a gap ends the wait at once;
* asks for a keyframe shortly before it gives up on a gap, so the keyframe is on
  its way when it does;
* after a skip, a decoder error, or at the start, releases nothing until a keyframe
  (H.264 IDR, VP8 key frame): the studio's picture freezes on its last good frame,
  and asks for one (``wants_keyframe``) until it comes;
* releases only the frames its ``policy`` admits (rooms/decodepolicy.py: keyframes only
  for a studio in standby) and asks for the keyframes the policy wants.

Counters (``frames_*``, ``keyframes``, ``gaps_skipped``) are what the studio's stats report.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from rooms.decodepolicy import DecodePolicy
from rooms.framecodec import is_keyframe, starts_frame
from rooms.repairtimes import RepairTimes

PAUSE_S = 0.1  # no packet for this long (video sends several per 33 ms frame): a pause, not waiting
PAUSE_CREDIT = 0.5  # s: pauses extend a gap's wait by at most this much (else a trickle never gives up)
MAX_HELD_PACKETS = 4096  # ~3 s of 720p: beyond this the oldest frames are dropped whatever happens


class EncodedFrame(JitterFrame):
    """A whole frame for aiortc's decoder thread, with the codec its packets named."""

    def __init__(self, data: bytes, timestamp: int, codec: RTCRtpCodecParameters, keyframe: bool) -> None:
        super().__init__(data=data, timestamp=timestamp)
        self.codec = codec
        self.keyframe = keyframe


class FrameBuffer:
    """Assembles one video stream's RTP packets (depayloaded, ``packet._data``) into frames.

    ``add`` has the shape of aiortc's ``JitterBuffer.add``: it returns (wants a
    keyframe, the next frame or None); further frames made ready by the same packet
    wait in ``pop_ready``. ``codec_of`` maps a payload type to its codec.
    ``decoder_error`` is aiortc's decoder-thread flag: when set, frames are held
    back until a keyframe. ``policy`` chooses which whole frames are decoded (default: all).
    Not thread-safe: the event loop alone calls it.
    """

    def __init__(
        self,
        codec_of: Callable[[int], RTCRtpCodecParameters | None],
        decoder_error: threading.Event | None = None,
        min_wait: float = 0.1,
        max_wait: float = 0.45,
        clock: Callable[[], float] = time.monotonic,
        policy: DecodePolicy | None = None,
    ) -> None:
        self.policy = policy if policy is not None else DecodePolicy()
        self._codec_of = codec_of
        self._decoder_error = decoder_error
        self.min_wait, self.max_wait = min_wait, max_wait
        self._clock = clock
        self._ssrc: int | None = None
        self._packets: dict[int, RtpPacket] = {}  # extended sequence number -> packet
        self._head: int | None = None  # extended sequence number of the next frame's first packet
        self._head_known = False  # True when _head is known to start a frame
        self._highest: int | None = None
        self._started = 0.0  # when the first packet of this stream arrived (plus pauses since)
        self._first_seen = 0.0
        self._last_add: float | None = None
        # ext seq -> (when its absence was seen, plus pauses since; when it was seen)
        self._missing_since: dict[int, tuple[float, float]] = {}
        self._ready: collections.deque[EncodedFrame] = collections.deque()
        self.repairs = RepairTimes()  # NACK -> packet, fed by the NACK generator
        self.waiting_for_keyframe = True
        # counters
        self.frames_complete = 0  # whole frames received
        self.frames_released = 0  # handed to the decoder
        self.frames_dropped = 0  # whole frames not decodable (references lost): dropped
        self.frames_incomplete = 0  # frames skipped with packets missing
        self.keyframes = 0
        self.gaps_skipped = 0
        self.packets_late = 0  # arrived after their frame was skipped
        self.repaired = 0  # missing packets that arrived in time (NACK/RTX or reordering)
        self._keyframe_at: dict[int, bool] = {}  # frame start -> whole keyframe there (while blocked)
        self._ts_last: int | None = None  # RTP timestamp of the last frame released or skipped
        self._ts_base = 0  # its unwrapped value

    # -- public ----------------------------------------------------------------------
    @property
    def wait(self) -> float:
        """How long a gap may hold the stream (s): ``NACK_ROUNDS`` repair round trips, bounded."""
        return self.repairs.gap_wait(self.min_wait, self.max_wait)

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        now = self._clock()
        if self._last_add is not None and now - self._last_add > PAUSE_S:
            # Nothing arrived for a while: our event loop was starved, or the network paused.
            # Either way no repair could arrive then: that time does not count against a gap.
            pause = now - self._last_add
            self._missing_since = {
                seq: (min(t + pause, seen + PAUSE_CREDIT), seen) for seq, (t, seen) in self._missing_since.items()
            }
            self._started = min(self._started + pause, self._first_seen + PAUSE_CREDIT)
        self._last_add = now
        if self._ssrc != packet.ssrc:
            self._reset(packet.ssrc)
        ext = self._extend(packet.sequence_number)
        if self._head is None or (ext < self._head and not self._head_known):
            self._head = ext  # (at the start, reordered packets may come before the first one seen)
        if ext < self._head:
            self.packets_late += 1
        elif ext not in self._packets:
            self._packets[ext] = packet
            since = self._missing_since.pop(ext, None)
            if since is not None:
                self.repaired += 1
            assert self._highest is not None
            if ext > self._highest:
                for seq in range(self._highest + 1, ext):
                    self._missing_since[seq] = (now, now)
                self._highest = ext
        if self._decoder_error is not None and self._decoder_error.is_set():
            # The decoder lost its references: nothing until a keyframe (aiortc clears the flag).
            self.waiting_for_keyframe = True
        self._drain(now, bool(packet.marker))
        return self._wants_keyframe(now), self.pop_ready()

    def pop_ready(self) -> EncodedFrame | None:
        return self._ready.popleft() if self._ready else None

    def passed(self, seq: int) -> bool:
        """Whether the 16-bit sequence number ``seq`` is behind the buffer (released or given up on).

        NACK stops asking for those.
        """
        if self._head is None or self._highest is None:
            return False
        behind = (self._highest - seq) & 0xFFFF  # how far behind the highest packet it is
        return behind < 0x8000 and self._highest - behind < self._head

    # -- internals -------------------------------------------------------------------
    def _reset(self, ssrc: int) -> None:
        self._ssrc = ssrc
        self._packets.clear()
        self._missing_since.clear()
        self._head = self._highest = None
        self._head_known = False
        self._started = self._first_seen = self._clock()
        self.waiting_for_keyframe = True
        self._ts_last = None  # a new stream: its timestamps start anywhere

    def _extend(self, seq: int) -> int:
        """16-bit sequence number -> ever-increasing one (RFC 3550 A.1)."""
        if self._highest is None:
            self._highest = seq
            return seq
        base = self._highest & ~0xFFFF
        ext = base | seq
        if ext < self._highest - 0x8000:
            ext += 0x10000
        elif ext > self._highest + 0x8000:
            ext -= 0x10000
        return ext

    def _starts_frame(self, seq: int) -> bool:
        """Whether ``seq`` is known to be a frame's first packet (its predecessor ended one)."""
        packet = self._packets.get(seq)
        if packet is None:
            return False
        prev = self._packets.get(seq - 1)
        if prev is not None:
            return bool(prev.marker) or prev.timestamp != packet.timestamp
        codec = self._codec_of(packet.payload_type)
        return codec is not None and starts_frame(codec.name, packet)

    def _frame_at(self, start: int) -> int | None:
        """Last sequence number of the whole frame starting at ``start``, or None if not whole yet."""
        first = self._packets.get(start)
        if first is None:
            return None
        seq = start
        while True:
            packet = self._packets[seq]
            if packet.marker:
                return seq
            nxt = self._packets.get(seq + 1)
            if nxt is None:
                return None
            if nxt.timestamp != first.timestamp:
                return seq  # the sender left the marker bit off
            seq += 1

    def _gap_since(self) -> float | None:
        if not self._head_known:
            return self._started
        return min((t for t, _ in self._missing_since.values()), default=None)

    def _wants_keyframe(self, now: float) -> bool:
        if self.waiting_for_keyframe:
            # At the start the sender's first keyframe is usually on its way: ask only if it is late.
            return self.frames_complete > 0 or now - self._started > self.wait
        return self._giving_up(now) or self.policy.wants_keyframe()

    def _giving_up(self, now: float) -> bool:
        """The gap at the head is about one round trip from being given up on."""
        since = self._gap_since()
        return since is not None and now - since > self.wait - self.repairs.delay

    def _keyframe_behind(self, start: int) -> int | None:
        """The first whole keyframe after ``start``, if one is in."""
        assert self._highest is not None
        for seq in range(start + 1, self._highest + 1):
            if seq in self._keyframe_at or not self._starts_frame(seq):
                if self._keyframe_at.get(seq):
                    return seq
                continue
            end = self._frame_at(seq)
            if end is None:
                continue
            first = self._packets[seq]
            codec = self._codec_of(first.payload_type)
            data = b"".join(self._packets[s]._data for s in range(seq, end + 1))  # type: ignore[attr-defined]
            self._keyframe_at[seq] = codec is not None and is_keyframe(codec.name, data)
            if self._keyframe_at[seq]:
                return seq
        return None

    def _drain(self, now: float, frame_ended: bool) -> None:
        assert self._head is not None and self._highest is not None
        while self._head <= self._highest:
            whole = self._head_known or self._starts_frame(self._head)
            end = self._frame_at(self._head) if whole else None
            if end is not None:
                self._head_known = True
                self._release(self._head, end)
                self._head = end + 1
                continue
            # Blocked: a packet is missing, or (at the start) where a frame begins is unknown.
            if frame_ended and (key := self._keyframe_behind(self._head)) is not None:
                self._skip_to(key)
                continue
            since = self._gap_since()
            held = self._highest - self._head
            if held < MAX_HELD_PACKETS and (since is None or now - since < self.wait):
                return
            target = next((s for s in range(self._head + 1, self._highest + 1) if self._starts_frame(s)), None)
            if target is None:
                if held < MAX_HELD_PACKETS:
                    return
                target = self._highest + 1
            self._skip_to(target)

    def _release(self, start: int, end: int) -> None:
        self._keyframe_at.pop(start, None)
        packets = [self._packets.pop(seq) for seq in range(start, end + 1)]
        data = b"".join(p._data for p in packets)  # type: ignore[attr-defined]
        codec = self._codec_of(packets[0].payload_type)
        if not data or codec is None:
            return  # padding only
        self.frames_complete += 1
        keyframe = is_keyframe(codec.name, data)
        if keyframe:
            self.keyframes += 1
            self.waiting_for_keyframe = False
        if self.waiting_for_keyframe:
            self.frames_dropped += 1
            return
        sent = self._unwrap_timestamp(packets[0].timestamp) / codec.clockRate if codec.clockRate else None
        if not self.policy.admit(keyframe, sent):
            return
        self.frames_released += 1
        self._ready.append(EncodedFrame(data, packets[0].timestamp, codec, keyframe))

    def _unwrap_timestamp(self, timestamp: int) -> int:
        """32-bit RTP timestamp -> ever-increasing one (frames arrive in order here)."""
        if self._ts_last is not None:
            step = (timestamp - self._ts_last) & 0xFFFFFFFF
            self._ts_base += step - (0x100000000 if step >= 0x80000000 else 0)
        self._ts_last = timestamp
        return self._ts_base

    def _skip_to(self, target: int) -> None:
        assert self._head is not None
        timestamps = {p.timestamp for s, p in self._packets.items() if s < target}
        for seq in [s for s in self._packets if s < target]:
            del self._packets[seq]
        if self._head_known:  # (at the start, what comes before the first whole frame is no gap)
            self.frames_incomplete += max(len(timestamps), 1)
            self.gaps_skipped += 1
        self._head = target
        self._head_known = True
        self.waiting_for_keyframe = True
        self._keyframe_at = {seq: key for seq, key in self._keyframe_at.items() if seq >= target}
        for seq in [s for s in self._missing_since if s < target]:
            del self._missing_since[seq]
