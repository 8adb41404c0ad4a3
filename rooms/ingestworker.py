"""An ingest worker process: the WHIP sessions of some studios, off the main process's GIL.

Each session is a :class:`~rooms.whipsession.WhipSession` as in-process (ICE on the worker's
own UDP ports, DTLS/SRTP, our receive path, aiortc's decoders), with a feed that hands its
pictures to the main process (rooms/workerfeed.py). Four threads: the event loop (sessions),
the pipe reader (commands in, handed to the loop), the frame writer (copies into shared
memory, never on the loop) and the pipe sender (so a server slow to read never blocks the
loop that reads the studios' sockets).

The worker ends when the main process says ``Stop`` or its pipe closes (the main process
died): it never outlives the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from rooms import compat
from rooms import ingestmessages as msg
from rooms.frameslots import FrameSlots
from rooms.sessionspec import SessionSpec
from rooms.udpsocket import size_receive_buffers
from rooms.whipsession import IceRestartUnsupported, SdpError, WhipSession
from rooms.workerfeed import FrameWriter, Pipe, SlotFeed

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 0.5
STATE_POLL_S = 0.1


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
        size_receive_buffers()  # as the server does: room for bursts (rooms/udpsocket.py)
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
        spec = SessionSpec(
            m.show_id, m.studio_id, feed, self._closed, m.options, m.client, self._presence, m.decode_level
        )
        session = WhipSession(spec)
        session.id = m.session_id  # the main process's name for it (its Location)
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
