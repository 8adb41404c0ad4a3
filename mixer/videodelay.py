"""Per-studio video delay, so a studio's picture waits for its own sound.

The feed buffer hands over the latest video frame as soon as it is decoded,
while audio reaches the mix later: aiortc's audio jitter buffer holds about
four 20 ms packets before releasing one (video frames leave as soon as the
next one starts, about one frame interval), and the mixer's own audio FIFO adds
its depth (``_StudioAudio.latency``). So each studio's recent frames are kept
here, by reference (no pixel copies), and the program shows the newest frame
that arrived at least ``delay`` seconds ago.
"""

from __future__ import annotations

import collections
import itertools

import av

from mixer.feedbuffer import FeedBuffer

_tokens = itertools.count(1)  # unique per frame, across feeds: compositor cache keys


def new_token() -> int:
    """A compositor cache key no other picture has."""
    return next(_tokens)


class StudioVideo:
    MAX_FRAMES = 32  # > 0.5 s at 60 fps: more delay than that is a configuration error

    def __init__(self, feed: FeedBuffer) -> None:
        self.feed = feed
        self._seq = -1
        self._frames: collections.deque[tuple[float, int, av.VideoFrame]] = collections.deque(maxlen=self.MAX_FRAMES)
        self.last_arrival = 0.0  # monotonic time the newest frame arrived (0: none yet)
        self.delay = 0.0  # what the last pick aimed for, seconds

    def rebind(self, feed: FeedBuffer) -> None:
        """The studio's new session feeds ``feed``: keep the frames we have (they age out as usual)."""
        self.feed, self._seq = feed, -1

    def poll(self) -> None:
        """Take the feed's newest frame if it is new (cheap: a lock and a reference).

        A cleared or not yet started feed changes nothing: the last frames stay until they are
        stale (the program's fallback decides), so a session replaced in time is seamless.
        """
        frame, seq, arrived = self.feed.latest_video()
        if frame is None:
            return
        if seq != self._seq:
            self._seq = seq
            self._frames.append((arrived, new_token(), frame))
            self.last_arrival = arrived

    def fresh(self, now: float, stale_after: float) -> bool:
        return bool(self._frames) and now - self.last_arrival <= stale_after

    def pick(self, now: float, delay: float) -> tuple[av.VideoFrame, int] | None:
        """The newest frame that arrived at least ``delay`` ago (else the oldest kept)."""
        if not self._frames:
            return None
        self.delay = delay
        due = now - delay
        frames = self._frames
        # Drop frames older than the one we show: they will never be due again.
        while len(frames) > 1 and frames[1][0] <= due:
            frames.popleft()
        _, token, frame = frames[0]
        return frame, token
