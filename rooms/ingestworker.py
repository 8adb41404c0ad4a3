"""An ingest worker process: the WHIP sessions of some studios, off the main process's GIL.

Each session is a :class:`~rooms.whipsession.WhipSession` as in-process (ICE on the worker's
own UDP ports, DTLS/SRTP, our receive path, aiortc's decoders), with a feed that hands its
pictures to the main process: a writer thread copies each one into the session's
:class:`~rooms.frameslots.FrameSlots` and announces it (``VideoReady``); audio frames go
through the pipe. Three threads: the event loop (sessions), the pipe reader (commands in,
handed to the loop) and the frame writer (numpy copies, never on the loop; a bounded queue
that drops the oldest picture).

The worker ends when the main process says ``Stop`` or its pipe closes (the main process
died): it never outlives the server.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import av

from mixer.feedbuffer import FeedBuffer
from rooms import compat
from rooms import ingestmessages as msg
from rooms.frameslots import MAX_HEIGHT, MAX_WIDTH, FrameSlots
from rooms.whipsession import IceRestartUnsupported, SdpError, WhipSession

log = logging.getLogger(__name__)

WRITE_QUEUE = 64  # pictures waiting for the writer thread, all sessions (2 s of one studio)
STATS_INTERVAL_S = 0.5
MEDIA_QUEUE = 256  # picture and audio notices waiting for the server (~1 s of 4 studios)
STATE_POLL_S = 0.1
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


class Worker:
    def __init__(self, conn: Connection, settings: msg.WorkerSettings) -> None:
        self.pipe = Pipe(conn)
        self.settings = settings
        self.writer = FrameWriter(self.pipe)
        self.sessions: dict[str, WhipSession] = {}
        self._slots: dict[str, FrameSlots] = {}
        self._stopped = asyncio.Event()
        self._tasks: set[asyncio.Future[Any]] = set()

    async def run(self) -> None:
        s = self.settings
        compat.install()  # the same process-wide patches as the server (rooms/compat)
        compat.offer_host_addresses(s.ice_hosts)
        compat.use_port_range(s.ice_port_min, s.ice_port_max)
        loop = asyncio.get_running_loop()
        self.writer.start()
        reader = threading.Thread(target=self._read, args=(loop,), name="pipe-reader", daemon=True)
        reader.start()
        stats = asyncio.ensure_future(self._send_stats())
        await self._stopped.wait()
        stats.cancel()
        await asyncio.gather(*(session.close() for session in list(self.sessions.values())), return_exceptions=True)
        self.writer.stop()
        await asyncio.to_thread(self.pipe.flush, 2.0)

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        """Pipe reader thread: every command to the loop, in order; the end of the pipe stops us."""
        while True:
            try:
                message = self.pipe.conn.recv()
            except (EOFError, OSError):
                message = msg.Stop()
            loop.call_soon_threadsafe(self._dispatch, message)
            if isinstance(message, msg.Stop):
                return

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _dispatch(self, message: object) -> None:
        match message:
            case msg.Open():
                self._spawn(self._open(message))
            case msg.AddCandidates():
                self._spawn(self._add_candidates(message))
            case msg.Close(session_id=sid):
                session = self.sessions.get(sid)
                if session is not None:
                    self._spawn(session.close())
            case msg.RequestKeyframe(session_id=sid):
                session = self.sessions.get(sid)
                if session is not None:
                    session.request_keyframe()
            case msg.SetDecodeLevel(session_id=sid, level=level):
                session = self.sessions.get(sid)
                set_level = getattr(session, "set_decode_level", None)
                if set_level is not None:
                    set_level(level)
            case msg.Stop():
                self._stopped.set()
            case _:
                log.warning("ingest worker: unknown message %r", type(message).__name__)

    async def _open(self, m: msg.Open) -> None:
        try:
            slots = FrameSlots.attach(m.slots)
        except OSError as exc:  # the main process gave up on the session meanwhile
            self.pipe.send(msg.Reply(m.req, error=f"frame slots: {exc}", error_kind="other"))
            return
        feed = SlotFeed(m.studio_id, m.session_id, slots, self.pipe, self.writer)
        session = WhipSession(m.show_id, m.studio_id, feed, self._closed, m.options, m.client, self._presence)
        session.id = m.session_id  # the main process's name for it (its Location)
        set_level = getattr(session, "set_decode_level", None)  # rooms/decodepolicy.py, where present
        if set_level is not None and m.decode_level != "full":
            set_level(m.decode_level)
        self._slots[m.session_id] = slots
        self.sessions[m.session_id] = session
        try:
            answer = await session.accept(m.offer)
        except SdpError as exc:
            self.pipe.send(msg.Reply(m.req, error=str(exc), error_kind="sdp"))
            return
        except Exception as exc:
            log.exception("studio %s: session not opened", m.studio_id)
            await session.close()
            self.pipe.send(msg.Reply(m.req, error=str(exc) or type(exc).__name__, error_kind="other"))
            return
        self.pipe.send(msg.Reply(m.req, value=answer))

    async def _add_candidates(self, m: msg.AddCandidates) -> None:
        session = self.sessions.get(m.session_id)
        if session is None:
            self.pipe.send(msg.Reply(m.req, value=0))
            return
        try:
            added = await session.add_candidates(m.frag)
        except IceRestartUnsupported as exc:
            self.pipe.send(msg.Reply(m.req, error=str(exc), error_kind="ice_restart"))
            return
        self.pipe.send(msg.Reply(m.req, value=added))

    async def _presence(self, session: WhipSession, online: bool) -> None:
        self.pipe.send(msg.Presence(session.id, online))

    async def _closed(self, session: WhipSession) -> None:
        self.sessions.pop(session.id, None)
        slots = self._slots.pop(session.id, None)
        self.pipe.send(msg.Stats(session.id, "closed", session.stats()))
        self.pipe.send(msg.Closed(session.id))
        if slots is not None:
            # The writer may still hold a picture of this session: detach once it cannot write.
            with contextlib.suppress(BufferError):
                await asyncio.sleep(0.1)
                slots.close()

    async def _send_stats(self) -> None:
        """Each session's stats every ``STATS_INTERVAL_S``, and at once (within 0.1 s) when its
        state changes: a stall of half a second must show (rooms/liveness.py)."""
        sent_state: dict[str, str] = {}
        sent_at = 0.0
        while True:
            await asyncio.sleep(STATE_POLL_S)
            now = time.monotonic()
            due = now - sent_at >= STATS_INTERVAL_S
            if due:
                sent_at = now
            for sid, session in list(self.sessions.items()):
                state = session.state
                if due or sent_state.get(sid) != state:
                    sent_state[sid] = state
                    with contextlib.suppress(Exception):  # stats are best effort
                        self.pipe.send(msg.Stats(sid, state, session.stats()))
            for gone in set(sent_state) - set(self.sessions):
                del sent_state[gone]


def main(conn: Connection, settings: msg.WorkerSettings) -> None:
    """The worker process's entry point (``multiprocessing`` spawn target)."""
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s ingest-worker %(levelname)s %(name)s: %(message)s"
    )
    # Ctrl-C reaches the whole process group: the server ends us in order (or its pipe closes).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(Worker(conn, settings).run())
