"""The ingest worker processes (config ``ingest.workers``), seen from the main process.

Studio sessions are placed on the least loaded worker (fewest sessions). Each worker has a
pipe and a reader thread here: pictures announced in shared memory are copied into the
studio's feed on that thread (off the event loop), audio frames too; replies, presence,
stats and ends of sessions go to the event loop in the order they came.

A worker that dies (a crash, SIGKILL, out of memory) is noticed at once (its pipe closes): its
sessions end as a dropped studio's do (the program falls back, the studio shows offline), and
a new worker takes its place; publishers re-join (the join page re-POSTs by itself). The
show never stops for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from rooms import ingestmessages as msg
from rooms import ingestworker
from rooms.remotesession import IngestUnavailable, RemoteSession
from rooms.sessionspec import SessionSpec
from rooms.whipsession import IceRestartUnsupported, SdpError

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 30.0  # an offer is answered in ~0.1-1 s (ICE gathering); this is a dead worker
STOP_TIMEOUT_S = 8.0  # a worker closes its sessions (5 s bound each, in parallel) and exits
RESTART_AFTER_S = 1.0  # at most one restart a second per worker slot (a worker that dies at start)


def worker_count(setting: int | str) -> int:
    """``ingest.workers``: "auto" is one per core; 0 keeps ingest in the main process."""
    return len(os.sched_getaffinity(0)) if setting == "auto" else int(setting)


class IngestWorker:
    """One worker process: its pipe, its sessions and the requests waiting for its replies."""

    def __init__(self, index: int, settings: msg.WorkerSettings, on_lost: Callable[[IngestWorker], None]) -> None:
        self.index = index
        self.sessions: dict[str, RemoteSession] = {}
        self._loop = asyncio.get_running_loop()
        self._on_lost = on_lost
        self._pending: dict[int, asyncio.Future[object]] = {}
        self._numbers = itertools.count(1)
        self._send_lock = threading.Lock()
        self.closing = False
        ctx = multiprocessing.get_context("spawn")  # a fork would copy the server's threads and loop
        self._conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=ingestworker.main, args=(child, settings), name=f"ingest-worker-{index}", daemon=True
        )
        self.process.start()
        child.close()  # ours closed: the worker's death closes the pipe (EOF here)
        self.started = time.monotonic()
        self._reader = threading.Thread(target=self._read, name=f"ingest-worker-{index}-pipe", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def send(self, message: object) -> None:
        # A dead worker's pipe refuses: its reader thread reports the death.
        with self._send_lock, contextlib.suppress(OSError, ValueError):
            self._conn.send(message)

    async def request(self, message: Any) -> object:
        """Send a request (a message with ``req``) and return the worker's reply's value."""
        number = next(self._numbers)
        future: asyncio.Future[object] = self._loop.create_future()
        self._pending[number] = future
        self.send(dataclasses.replace(message, req=number))
        try:
            return await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
        except TimeoutError:
            raise IngestUnavailable("the ingest worker did not answer") from None
        finally:
            self._pending.pop(number, None)

    def adopt(self, session: RemoteSession) -> None:
        self.sessions[session.id] = session

    def forget(self, session: RemoteSession) -> None:
        self.sessions.pop(session.id, None)

    # -- the pipe reader thread ------------------------------------------------------------
    def _read(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                break
            except Exception:  # a message that does not unpickle: skip it, the pipe is still framed
                log.exception("ingest worker %s: unreadable message", self.index)
                continue
            if isinstance(message, msg.VideoReady):
                session = self.sessions.get(message.session_id)
                if session is not None:
                    session.on_video(message)
            elif isinstance(message, msg.Delivering):
                session = self.sessions.get(message.session_id)
                if session is not None:
                    session.on_delivering()
            elif isinstance(message, msg.Audio):
                session = self.sessions.get(message.session_id)
                if session is not None:
                    session.on_audio(message)
            else:
                self._to_loop(self._dispatch, message)
        self._to_loop(self._lost)

    def _to_loop(self, fn: Callable[..., None], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server has stopped
            self._loop.call_soon_threadsafe(fn, *args)

    # -- on the event loop -----------------------------------------------------------------
    def _dispatch(self, message: object) -> None:
        match message:
            case msg.Reply(req=req, value=value, error=error, error_kind=kind):
                future = self._pending.get(req)
                if future is None or future.done():
                    return
                if not kind:
                    future.set_result(value)
                elif kind == "sdp":
                    future.set_exception(SdpError(error))
                elif kind == "ice_restart":
                    future.set_exception(IceRestartUnsupported(error))
                else:
                    future.set_exception(IngestUnavailable(error))
            case msg.Presence(session_id=sid, online=online):
                if (session := self.sessions.get(sid)) is not None:
                    session.on_presence(online)
            case msg.Stats(session_id=sid):
                if (session := self.sessions.get(sid)) is not None:
                    session.on_stats(message)
            case msg.Closed(session_id=sid):
                if (session := self.sessions.get(sid)) is not None:
                    session.on_worker_closed()

    def _lost(self) -> None:
        self._conn.close()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(IngestUnavailable("the ingest worker ended; try again"))
        if self.closing:
            return
        self.process.join(0.5)  # reap it (it is gone: its pipe closed)
        log.error(
            "ingest worker %s (pid %s) died (exit code %s): its %d studio session(s) end; a new worker starts",
            self.index,
            self.pid,
            self.process.exitcode,
            len(self.sessions),
        )
        for session in list(self.sessions.values()):
            session.on_worker_lost()
        self._on_lost(self)

    def stop(self) -> None:
        """Ask the worker to close its sessions and exit (``join`` waits for it)."""
        self.closing = True
        self.send(msg.Stop())

    def join(self, timeout: float) -> None:
        """Blocking: wait for the exit, then end it by force; frees what its sessions held."""
        self.process.join(timeout)
        if self.process.is_alive():
            log.warning("ingest worker %s did not stop in %ss: killed", self.index, timeout)
            self.process.kill()
            self.process.join(2)
        self._reader.join(2)
        for session in list(self.sessions.values()):
            session.slots.close()


class IngestPool:
    """``count`` ingest workers; ``session()`` places a studio's session on the least loaded."""

    def __init__(self, count: int, settings: msg.WorkerSettings) -> None:
        self.count = count
        self.settings = settings
        self.workers: list[IngestWorker] = []
        self.restarts = 0
        self._closing = False

    async def start(self) -> None:
        self.workers = [IngestWorker(i, self.settings, self._lost) for i in range(self.count)]

    def session(self, spec: SessionSpec[RemoteSession]) -> RemoteSession:
        """A new session on the worker with the fewest sessions (its ``accept`` sends the offer)."""
        live = [w for w in self.workers if not w.closing and w.process.is_alive()]
        if not live:
            raise IngestUnavailable("no ingest worker is running; try again")
        worker = min(live, key=lambda w: (len(w.sessions), w.index))
        session = RemoteSession(worker, spec)
        worker.adopt(session)
        return session

    def _lost(self, worker: IngestWorker) -> None:
        if self._closing or worker not in self.workers:
            return
        self.restarts += 1
        wait = max(0.0, RESTART_AFTER_S - (time.monotonic() - worker.started))
        asyncio.get_running_loop().call_later(wait, self._restart, worker)

    def _restart(self, worker: IngestWorker) -> None:
        if self._closing or worker not in self.workers:
            return
        self.workers[self.workers.index(worker)] = IngestWorker(worker.index, self.settings, self._lost)

    def status(self) -> dict[str, object]:
        return {
            "workers": [{"pid": w.pid, "sessions": len(w.sessions)} for w in self.workers],
            "restarts": self.restarts,
        }

    async def close(self) -> None:
        """Stop every worker (they close their sessions), bounded; nothing is left behind."""
        self._closing = True
        for worker in self.workers:
            worker.stop()
        await asyncio.gather(*(asyncio.to_thread(w.join, STOP_TIMEOUT_S) for w in self.workers))
