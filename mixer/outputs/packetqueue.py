"""The bounded packet queue between the encoder thread and an output's worker thread."""

from __future__ import annotations

import threading
from collections import deque

from mixer.encodedpacket import EncodedPacket


class PacketQueue:
    """Bounded FIFO that never blocks the producer and keeps video decodable.

    When full, the oldest packet goes; if that was video, the video packets
    that depended on it go too, up to the next keyframe (and if none is
    queued, incoming video is refused until one arrives).  Audio is never
    held back by video.
    """

    def __init__(self, maxsize: int, wake_at: int = 1) -> None:
        if maxsize < 2:
            raise ValueError("queue needs room for at least two packets")
        self.maxsize = maxsize
        self.wake_at = max(1, min(wake_at, maxsize))
        self.dropped = 0
        self.closed = False
        self._items: deque[tuple[EncodedPacket, float]] = deque()
        self._await_keyframe = False
        self._cond = threading.Condition()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, packet: EncodedPacket, arrival: float) -> None:
        with self._cond:
            if self.closed:
                return
            video = packet.kind == "video"
            if video and self._await_keyframe and not packet.keyframe:
                self.dropped += 1
                return
            if len(self._items) >= self.maxsize:
                oldest, _ = self._items.popleft()
                self.dropped += 1
                if oldest.kind == "video":
                    self._drop_video_until_keyframe()
            if video and self._await_keyframe:  # possibly set just now, by the drop above
                if not packet.keyframe:
                    self.dropped += 1
                    return
                self._await_keyframe = False
            self._items.append((packet, arrival))
            if len(self._items) >= self.wake_at:
                self._cond.notify()

    def _drop_video_until_keyframe(self) -> None:
        kept: deque[tuple[EncodedPacket, float]] = deque()
        waiting = True
        for item in self._items:
            packet = item[0]
            if waiting and packet.kind == "video":
                if packet.keyframe:
                    waiting = False
                else:
                    self.dropped += 1
                    continue
            kept.append(item)
        self._items = kept
        self._await_keyframe = waiting

    def take_all(self, timeout: float | None = None) -> list[tuple[EncodedPacket, float]]:
        """Everything queued (waiting up to ``timeout`` for something); [] when closed and empty."""
        with self._cond:
            if not self._items and not self.closed:
                self._cond.wait(timeout)
            items = list(self._items)
            self._items.clear()
            return items

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
