"""One show live on this node: its studios' sessions, its program and outputs.

Commands arrive here from the HTTP edge; each goes through the state store
first and is then applied to the media plane as a new Scene.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from pathlib import Path

from mixer.encodedpacket import ProgramFormat
from mixer.outputs.flvoutput import FlvOutput
from mixer.outputs.hlsoutput import HlsOutput
from mixer.program import Program, Scene
from orchestrator.config import Show
from orchestrator.errors import BadRequest, NotFound
from orchestrator.store import Event, ShowState, StateStore, StoreUnavailable
from rooms.feedbuffer import FeedBuffer
from rooms.whipsession import WhipSession

log = logging.getLogger(__name__)


class ShowRunner:
    def __init__(self, show: Show, store: StateStore, data_dir: Path) -> None:
        self.show = show
        self.store = store
        fmt = ProgramFormat(
            width=show.width,
            height=show.height,
            fps=show.fps,
            video_bitrate=show.video_bitrate,
            audio_bitrate=show.audio_bitrate,
        )
        self.program = Program(fmt, show.title, show.slate_text)
        self.hls_dir = data_dir / "live" / show.id
        self.hls: HlsOutput | None = None
        self.flv: FlvOutput | None = None
        self.sessions: dict[str, WhipSession] = {}  # studio id -> live session
        self._lock = asyncio.Lock()
        self.state = ShowState(show=show.id)  # the last state applied to the program
        self._follower: asyncio.Future[None] | None = None

    # -- life cycle ----------------------------------------------------------
    async def start(self) -> None:
        if self.show.outputs.hls:
            self.hls = HlsOutput(
                self.hls_dir,
                segment_seconds=self.show.outputs.hls_segment_seconds,
                window=self.show.outputs.hls_window,
            )
            self.program.add_sink(self.hls)
        if self.show.outputs.flv:
            self.flv = FlvOutput(asyncio.get_running_loop())
            self.program.add_sink(self.flv)
        # Sessions did not survive whatever stopped us: nobody is online yet.
        try:
            state = await self.store.update(self.show.id, lambda s: dataclasses.replace(s, online=()))
        except StoreUnavailable as exc:
            log.error("show %s: state store unavailable at start (%s); starting on the slate", self.show.id, exc)
            state = ShowState(show=self.show.id)
        self._apply(state)
        self.program.start()
        self._follower = asyncio.ensure_future(self._follow())

    async def _follow(self) -> None:
        """Apply changes another node made to this show (stores that can publish them)."""
        watch = getattr(self.store, "watch", None)
        if watch is None:
            return
        while True:
            try:
                async for state in watch(self.show.id):
                    if state.version > self.state.version:
                        self._apply(state)
            except StoreUnavailable as exc:
                log.warning("show %s: lost the state store's change feed (%s); retrying", self.show.id, exc)
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        for session in list(self.sessions.values()):
            await session.close()
        await asyncio.get_running_loop().run_in_executor(None, self.program.stop)

    def _apply(self, state: ShowState) -> None:
        self.state = state
        self.program.set_scene(Scene(program=state.program, preview=state.preview))

    def _check_studio(self, studio_id: str) -> None:
        if self.show.studio(studio_id) is None:
            raise NotFound(f"show {self.show.id!r} has no studio {studio_id!r}")

    # -- studios -------------------------------------------------------------
    async def publish(self, studio_id: str, offer_sdp: str) -> WhipSession:
        """Start a studio's WHIP session; a second join replaces the first."""
        self._check_studio(studio_id)
        old = self.sessions.get(studio_id)
        if old is not None:
            await old.close()
        feed = FeedBuffer(studio_id)
        session = WhipSession(self.show.id, studio_id, feed, self._session_closed)
        answer = await session.accept(offer_sdp)
        session.answer = answer  # type: ignore[attr-defined]
        self.sessions[studio_id] = session
        self.program.attach_feed(feed)
        await self._presence(studio_id, True)
        return session

    def session(self, studio_id: str, session_id: str) -> WhipSession:
        session = self.sessions.get(studio_id)
        if session is None or session.id != session_id:
            raise NotFound("no such WHIP session (it may have ended)")
        return session

    async def _session_closed(self, session: WhipSession) -> None:
        if self.sessions.get(session.studio_id) is not session:
            return  # replaced by a newer session: that one owns the studio now
        del self.sessions[session.studio_id]
        self.program.detach_feed(session.studio_id)
        await self._presence(session.studio_id, False)

    async def _presence(self, studio_id: str, online: bool) -> None:
        """Record a studio coming or going; best effort, since media must not wait on the store."""

        def change(s: ShowState) -> ShowState:
            others = set(s.online) - {studio_id}
            return dataclasses.replace(s, online=tuple(sorted(others | ({studio_id} if online else set()))))

        try:
            await self.store.update(self.show.id, change)
            kind = "studio.joined" if online else "studio.left"
            await self.store.add_event(Event(kind, self.show.id, f"studio:{studio_id}", {"studio": studio_id}))
        except StoreUnavailable as exc:
            log.warning("show %s: could not record studio %s online=%s: %s", self.show.id, studio_id, online, exc)

    # -- commands ------------------------------------------------------------
    async def cut(self, studio_id: str | None, actor: str) -> ShowState:
        """Put a studio (or None: the slate) on program at the next tick."""
        if studio_id is not None:
            self._check_studio(studio_id)
        async with self._lock:
            state = await self.store.update(self.show.id, lambda s: dataclasses.replace(s, program=studio_id))
            self._apply(state)
        await self.store.add_event(Event("program.cut", self.show.id, actor, {"studio": studio_id}))
        return state

    async def set_preview(self, studio_id: str | None, actor: str) -> ShowState:
        if studio_id is not None:
            self._check_studio(studio_id)
        async with self._lock:
            state = await self.store.update(self.show.id, lambda s: dataclasses.replace(s, preview=studio_id))
            self._apply(state)
        await self.store.add_event(Event("preview.set", self.show.id, actor, {"studio": studio_id}))
        return state

    # -- views ---------------------------------------------------------------
    async def describe(self) -> dict[str, object]:
        state = self.state
        studios = []
        for studio in self.show.studios:
            session = self.sessions.get(studio.id)
            studios.append(
                {
                    "id": studio.id,
                    "name": studio.name,
                    "name_en": studio.name_en,
                    "place": studio.place,
                    "online": studio.id in self.sessions,
                    "stats": session.stats() if session else None,
                }
            )
        outputs: dict[str, object] = {}
        if self.hls:
            outputs["hls"] = {"url": f"/live/{self.show.id}/index.m3u8", **self.hls.status()}
        if self.flv:
            outputs["flv"] = {"url": f"/live/{self.show.id}.flv", **self.flv.status()}
        return {
            "show": self.show.id,
            "title": self.show.title,
            "program": state.program,
            "preview": state.preview,
            "on_air": self.program.on_air,
            "version": state.version,
            "studios": studios,
            "cards": [],
            "products": len(self.show.products),
            "mixer": self.program.stats(),
            "outputs": outputs,
        }


def studio_or_none(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest("'studio' must be a studio id string or null")
    return value
