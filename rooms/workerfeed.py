"""How a session in an ingest worker hands its media to the server, never blocking the worker's loop.

:class:`SlotFeed` is the session's feed: pictures go to :class:`FrameWriter` (a thread that
copies them into the session's :class:`~rooms.frameslots.FrameSlots` and announces them), audio
and notices to :class:`Pipe` (a thread that writes the worker's end of its pipe). The event loop
that reads the studios' UDP sockets only appends to bounded queues.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from multiprocessing.connection import Connection

import av

from mixer.feedbuffer import FeedBuffer
from rooms import ingestmessages as msg
from rooms.frameslots import MAX_HEIGHT, MAX_WIDTH, FrameSlots

log = logging.getLogger(__name__)

WRITE_QUEUE = 64  # pictures waiting for the writer thread, all sessions (2 s of one studio)
MEDIA_QUEUE = 256  # picture and audio notices waiting for the server (~1 s of 4 studios)
DELIVERING_INTERVAL_S = 0.1


class Pipe:
    """The worker's end of its pipe; ``send`` from any thread, never blocking.

    A sender thread writes the messages: if the server is slow to read (its GIL busy), the
    pipe fills and that thread waits, never the event loop that reads the studios' UDP
    sockets. Media notices (pictures, audio, "delivering") wait in a bounded queue that
    drops the oldest (a picture a second old is useless to a live mix); replies, presence,
    stats and ends of sessions are never dropped and go first.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.broken = False
        self.media_dropped = 0
        self._control: collections.deque[object] = collections.deque()
        self._media: collections.deque[object] = collections.deque(maxlen=MEDIA_QUEUE)
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="pipe-sender", daemon=True)
        self._thread.start()

    def send(self, message: object) -> None:
        media = isinstance(message, msg.VideoReady | msg.Audio | msg.Delivering)
        with self._ready:
            if self.broken:
                return
            if media:
                if len(self._media) == self._media.maxlen:
                    self.media_dropped += 1
                self._media.append(message)
            else:
                self._control.append(message)
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not (self._control or self._media):
                    self._ready.wait()
                message = self._control.popleft() if self._control else self._media.popleft()
            try:
                self.conn.send(message)
            except (OSError, ValueError):  # the server is gone: we are ending too
                with self._ready:
                    self.broken = True
                    self._control.clear()
                    self._media.clear()
                return

    def flush(self, timeout: float) -> None:
        """Wait (bounded) until what was sent so far has left: the last stats and ends of sessions."""
        deadline = time.monotonic() + timeout
        while (self._control or self._media) and not self.broken and time.monotonic() < deadline:
            time.sleep(0.01)


class FrameWriter(threading.Thread):
    """Copies pictures into their sessions' slots and announces them, off the event loop."""

    def __init__(self, pipe: Pipe) -> None:
        super().__init__(name="frame-writer", daemon=True)
        self._pipe = pipe
        self._queue: collections.deque[tuple[SlotFeed, av.VideoFrame] | None] = collections.deque(maxlen=WRITE_QUEUE)
        self._ready = threading.Condition()
        self.dropped = 0

    def put(self, feed: SlotFeed, frame: av.VideoFrame) -> None:
        with self._ready:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append((feed, frame))
            self._ready.notify()

    def stop(self) -> None:
        with self._ready:
            self._queue.append(None)
            self._ready.notify()

    def run(self) -> None:
        while True:
            with self._ready:
                while not self._queue:
                    self._ready.wait()
                item = self._queue.popleft()
            if item is None:
                return
            feed, frame = item
            try:
                feed.write(frame)
            except Exception:  # one bad picture (or a session closing) must not end the writer
                log.debug("studio %s: picture not handed over", feed.studio_id, exc_info=True)


class SlotFeed(FeedBuffer):
    """A session's feed in the worker: pictures to the frame slots, audio to the pipe."""

    def __init__(self, studio_id: str, session_id: str, slots: FrameSlots, pipe: Pipe, writer: FrameWriter) -> None:
        super().__init__(studio_id)
        self.session_id = session_id
        self._slots = slots
        self._pipe = pipe
        self._writer = writer
        self._delivering_sent = 0.0
        self.closed = False

    def push_video(self, frame: av.VideoFrame) -> None:
        self._video_seq += 1
        self._writer.put(self, frame)

    def write(self, frame: av.VideoFrame) -> None:
        """Writer thread: the copy into shared memory and the announcement."""
        if self.closed:
            return
        if not FrameSlots.fits(frame):
            frame = frame.reformat(*self._fitted(frame.width, frame.height), format="yuv420p")
        slot, seq = self._slots.write(frame)
        self._pipe.send(msg.VideoReady(self.session_id, slot, seq))

    def _fitted(self, width: int, height: int) -> tuple[int, int]:
        """Even dimensions within the slots that keep the aspect ratio."""
        scale = min(1.0, MAX_WIDTH / width, MAX_HEIGHT / height)
        return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)

    def note_delivering(self) -> None:
        """Video arrives undecoded (standby): tell the main process's feed, at most 10 times a second."""
        now = time.monotonic()
        if now - self._delivering_sent >= DELIVERING_INTERVAL_S:
            self._delivering_sent = now
            self._pipe.send(msg.Delivering(self.session_id))

    def push_audio(self, frame: av.AudioFrame) -> None:
        tb = frame.time_base
        self._pipe.send(
            msg.Audio(
                self.session_id,
                frame.to_ndarray().tobytes(),
                frame.format.name,
                frame.layout.name,
                frame.sample_rate,
                frame.pts,
                (tb.numerator, tb.denominator) if tb is not None else (1, frame.sample_rate),
            )
        )

    def clear(self) -> None:
        self.closed = True
