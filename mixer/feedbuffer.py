"""The mixer's input contract: the hand-off between one studio's receiver and the program clock.

The event loop writes (decoded frames from aiortc), the mixer thread reads.
Only references are exchanged here; all pixel and sample work happens in the
mixer thread.
"""

from __future__ import annotations

import collections
import threading
import time

import av


class FeedBuffer:
    """Latest video frame plus a short queue of audio frames for one studio."""

    AUDIO_FRAMES = 50  # 1 s of 20 ms Opus frames; older audio is useless to a live mix

    def __init__(self, studio_id: str) -> None:
        self.studio_id = studio_id
        self._lock = threading.Lock()
        self._video: av.VideoFrame | None = None
        self._video_seq = 0
        self._video_time = 0.0
        self._audio: collections.deque[av.AudioFrame] = collections.deque(maxlen=self.AUDIO_FRAMES)
        self._audio_dropped = 0

    def push_video(self, frame: av.VideoFrame) -> None:
        with self._lock:
            self._video = frame
            self._video_seq += 1
            self._video_time = time.monotonic()

    def push_audio(self, frame: av.AudioFrame) -> None:
        with self._lock:
            if len(self._audio) == self._audio.maxlen:
                self._audio_dropped += 1
            self._audio.append(frame)

    def latest_video(self) -> tuple[av.VideoFrame | None, int, float]:
        """(frame, sequence number, monotonic time it arrived)."""
        with self._lock:
            return self._video, self._video_seq, self._video_time

    def take_audio(self) -> list[av.AudioFrame]:
        with self._lock:
            frames = list(self._audio)
            self._audio.clear()
            return frames

    def clear(self) -> None:
        with self._lock:
            self._video = None
            self._audio.clear()

    @property
    def video_frames(self) -> int:
        return self._video_seq
