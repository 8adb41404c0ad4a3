"""A studio's WHIP session that lives in an ingest worker, seen from the main process.

It has the interface of :class:`~rooms.whipsession.WhipSession` that the show and the WHIP
handlers use (``accept``, ``add_candidates``, ``close``, ``state``, ``stats``, ``feed`` ...), so
signalling stays in the main process: the offer, trickled candidates and the close are
forwarded to the worker, which owns the peer connection (and its ICE ports: the answer's
candidates are the worker's). Pictures arrive in :class:`~rooms.frameslots.FrameSlots` and are
copied into an ordinary :class:`~mixer.feedbuffer.FeedBuffer` by the worker's pipe reader
thread, so the mixer reads studios the same way whatever process received them.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from fractions import Fraction
from typing import Any, Protocol

import av
import numpy as np

from rooms import ingestmessages as msg
from rooms.frameslots import FrameSlots
from rooms.ingeststats import IngestStats
from rooms.sdp import SdpFrag
from rooms.sessionspec import SessionSpec
from rooms.whipsession import IceRestartUnsupported, SdpError, WhipSession, check_offer


class WorkerLink(Protocol):
    """What a session needs of its worker (rooms/ingestpool.py ``IngestWorker``)."""

    async def request(self, message: Any) -> object: ...

    def send(self, message: object) -> None: ...

    def forget(self, session: RemoteSession) -> None: ...


class IngestUnavailable(Exception):
    """No ingest worker could take the session (it died meanwhile): the client should retry."""


class RemoteSession:
    """One studio's session in an ingest worker (see the module doc)."""

    CLOSE_TIMEOUT_S = WhipSession.CLOSE_TIMEOUT_S

    def __init__(self, worker: WorkerLink, spec: SessionSpec[RemoteSession]) -> None:
        self.id = secrets.token_urlsafe(12)
        self.decode_level = spec.decode_level  # as the session opens; set_decode_level changes it
        self.etag = f'"{self.id}"'  # RFC 9725 4.3.1, as WhipSession
        self.show_id, self.studio_id = spec.show_id, spec.studio_id
        self.client = spec.client
        self.feed = spec.feed
        self.options = spec.options
        self.worker = worker
        self.created = time.time()
        self.answer = ""
        self.client_stats: dict[str, float] = {}
        self.slots = FrameSlots.create()
        self.video_frames = 0  # pictures handed to the feed (main process)
        self.audio_frames = 0
        self._on_closed = spec.on_closed
        self._on_presence = spec.on_presence
        self._state = "new"
        self._stats: dict[str, object] = {}
        self._closed = False
        self._finished: asyncio.Future[None] | None = None
        self._worker_closed = asyncio.Event()
        self._announcing: asyncio.Future[None] | None = None
        self.ingest = IngestStats()  # freezes as the mixer sees them (decoded frames arriving here)

    @property
    def state(self) -> str:
        return "closed" if self._closed else self._state

    async def accept(self, offer_sdp: str) -> str:
        """Have the worker answer the offer; SdpError as in-process, IngestUnavailable if it died."""
        request = msg.Open(
            self.id,
            show_id=self.show_id,
            studio_id=self.studio_id,
            offer=offer_sdp,
            options=self.options,
            slots=self.slots.name,
            client=self.client,
            decode_level=self.decode_level,
        )
        try:
            check_offer(offer_sdp)
            self.answer = str(await self.worker.request(request))
        except (SdpError, IngestUnavailable):
            await self._finish(notify=False)
            raise
        return self.answer

    async def add_candidates(self, frag: SdpFrag) -> int:
        if self._closed:
            return 0
        return int(await self.worker.request(msg.AddCandidates(self.id, frag)))  # type: ignore[call-overload]

    def request_keyframe(self) -> None:
        """Ask the studio for a keyframe now (rate-limited by the receive path)."""
        self.worker.send(msg.RequestKeyframe(self.id))

    def set_decode_level(self, level: str) -> None:
        """ "full" or "standby": how fully the worker decodes this studio's video."""
        self.worker.send(msg.SetDecodeLevel(self.id, level))

    async def close(self) -> None:
        if self._closed:
            return
        self.worker.send(msg.Close(self.id))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._worker_closed.wait(), self.CLOSE_TIMEOUT_S + 1)
        await self._finish()

    def stats(self) -> dict[str, object]:
        rtt = self.client_stats.get("rtt_ms")
        return {
            "resolution": None,  # until the worker's first stats (then its own, as in-process)
            **self._stats,
            "session": self.id,
            "state": self.state,
            "video_frames": self.video_frames,
            "audio_frames": self.audio_frames,
            "connected_s": round(time.time() - self.created, 1),
            "freezes": self.ingest.freezes,
            "freeze_ms": round(self.ingest.freeze_ms),
            "longest_freeze_ms": round(self.ingest.longest_freeze_ms),
            "rtt_ms": round(rtt, 1) if rtt is not None else None,
        }

    # -- from the worker (pipe reader thread) ------------------------------------------------
    def on_video(self, m: msg.VideoReady) -> None:
        """Reader thread: copy the announced picture out of the slots into the feed."""
        if self._closed:
            return
        frame = self.slots.read(m.slot, m.seq)
        if frame is not None:
            self.video_frames += 1
            self.ingest.on_decoded_frame()
            self.feed.push_video(frame)

    def on_delivering(self) -> None:
        """Reader thread: video arrives undecoded (standby); the feed still counts as delivering."""
        note = getattr(self.feed, "note_delivering", None)
        if note is not None and not self._closed:
            note()

    def on_audio(self, m: msg.Audio) -> None:
        """Reader thread: rebuild the audio frame for the feed."""
        if self._closed:
            return
        dtype = _DTYPES.get(m.format)
        if dtype is None:
            return  # aiortc's Opus decoder gives s16; nothing else is expected
        planes = len(av.AudioLayout(m.layout).channels) if m.format.endswith("p") else 1
        samples = np.frombuffer(m.samples, dtype=dtype)
        frame = av.AudioFrame.from_ndarray(samples.reshape(planes, -1), format=m.format, layout=m.layout)
        frame.sample_rate = m.sample_rate
        frame.pts = m.pts
        frame.time_base = Fraction(*m.time_base)
        self.audio_frames += 1
        self.feed.push_audio(frame)

    # -- from the worker (event loop) ---------------------------------------------------------
    def on_stats(self, m: msg.Stats) -> None:
        if not self._closed:
            self._state = m.state
        self._stats = {k: v for k, v in m.stats.items() if k not in ("rtt_ms", "connected_s")}

    def on_presence(self, online: bool) -> None:
        if self._on_presence is None or self._closed:
            return
        previous, on_presence = self._announcing, self._on_presence

        async def announce() -> None:  # in order, each whole (as rooms/liveness.py)
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous
            await on_presence(self, online)

        self._announcing = asyncio.ensure_future(announce())

    def on_worker_closed(self) -> None:
        """The worker ended the session (its close, or the liveness watch gave up)."""
        self._worker_closed.set()
        if not self._closed:
            asyncio.ensure_future(self._finish())

    def on_worker_lost(self) -> None:
        """The worker died: the session is gone (its publisher re-joins, with a new session)."""
        self._worker_closed.set()
        if not self._closed:
            asyncio.ensure_future(self._finish())

    async def _finish(self, notify: bool = True) -> None:
        """Once: stop the feed, free the slots, hand the studio back (``on_closed``)."""
        if self._finished is not None:
            await asyncio.shield(self._finished)
            return
        self._finished = asyncio.get_running_loop().create_future()
        self._closed = True
        self.worker.forget(self)
        self.feed.clear()
        self.slots.close()
        try:
            if self._announcing is not None:
                with contextlib.suppress(Exception):
                    await self._announcing  # a studio.joined still being written goes first
            if notify:
                await self._on_closed(self)
        finally:
            self._finished.set_result(None)


_DTYPES = {"s16": np.int16, "s16p": np.int16, "s32": np.int32, "s32p": np.int32, "flt": np.float32, "fltp": np.float32}

StudioSession = WhipSession | RemoteSession
__all__ = ["IceRestartUnsupported", "IngestUnavailable", "RemoteSession", "SdpError", "StudioSession"]
