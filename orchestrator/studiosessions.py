"""A show's studios: their WHIP (or RTMP) sessions, presence (online / offline), join links, return feeds.

A second join replaces the first make-before-break (:meth:`StudioSessions.publish`); a
studio is online while its session is connected and its media arrives (rooms/liveness.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import av

from mixer.feedbuffer import FeedBuffer
from mixer.studiocard import render_studio_card
from orchestrator import mixerstate
from orchestrator.commandpath import CommandPath
from orchestrator.config import Show
from orchestrator.errors import Conflict, NotFound
from orchestrator.outbox import Fact
from orchestrator.returnfeeds import ReturnFeeds
from orchestrator.store import Event, ShowState, StateStore
from rooms.decodepolicy import decode_level
from rooms.ingestpool import IngestPool
from rooms.mediakinds import sent_kinds
from rooms.remotesession import RemoteSession
from rooms.rtmpstudio import RtmpStudio
from rooms.sessionspec import SessionSpec, WhipOptions
from rooms.whipsession import WhipSession

log = logging.getLogger(__name__)

StudioSession = WhipSession | RemoteSession | RtmpStudio  # a WHIP session here or in a worker, or RTMP


class StudioSessions(CommandPath):
    """Studio id -> live WHIP session; presence recorded as studio.joined / studio.left."""

    def __init__(self, show: Show, store: StateStore, data_dir: Path, whip: WhipOptions | None = None) -> None:
        super().__init__(show, store, data_dir, whip)
        self.sessions: dict[str, StudioSession] = {}  # studio id -> live session
        self.ingest: IngestPool | None = None  # worker processes receive the studios (None: this process does)
        self.online: set[str] = set()  # studios whose session is connected and receiving media
        self._publishing: dict[str, asyncio.Lock] = {}
        self._retiring: set[asyncio.Future[None]] = set()  # replaced sessions being closed
        self._cards: dict[str, av.VideoFrame] = {}  # audio-only studios' pictures, drawn once
        # Talk and listen: the hosts' return feeds and the crew's talkback (orchestrator/returnfeeds.py).
        self.returns = ReturnFeeds(
            show.id, self.program, lambda: self.changes.publish(self.state), ice_servers=self.whip.ice_servers
        )

    async def publish(
        self, studio_id: str, offer_sdp: str, client: str = "", reconnect: bool = False
    ) -> WhipSession | RemoteSession:
        """Start a studio's WHIP session; a second join replaces the first, make-before-break.

        The new session is answered first, then takes the studio's place in the program (which
        keeps the studio's last frames and its place on air, see mixer/program.py), and only
        then is the old one closed: a replacement (encoder restart, page reload) that delivers
        within ``fallback_after`` never makes the program fall back. An offer we cannot answer
        (SdpError) leaves the old session on air.

        A page's automatic reconnect (``reconnect``) must not take the studio back from
        another page that joined since: that would make two tabs replace each other forever.
        """
        self._check_studio(studio_id)
        # One join at a time per studio: two offers answered concurrently would both
        # register, and the one overwritten would never be closed (a leaked peer connection).
        async with self._publishing.setdefault(studio_id, asyncio.Lock()):
            old = self.sessions.get(studio_id)
            if reconnect and old is not None and old.client and old.client != client and old.state != "failed":
                raise Conflict("this studio was taken over by another device or tab")
            feed = FeedBuffer(studio_id)
            spec = SessionSpec(
                self.show.id, studio_id, feed, self._session_closed, self.whip, client, self._session_presence,
                self._decode_level(studio_id, self.state),
            )  # fmt: skip
            session = self.ingest.session(spec) if self.ingest is not None else WhipSession(spec)
            await session.accept(offer_sdp)
            card = None if "video" in sent_kinds(offer_sdp) else await self._studio_card(studio_id)
            # Registered before the old one closes: hosts see one change (old -> new), never "no session".
            self.sessions[studio_id] = session
            session.set_decode_level(self._decode_level(studio_id, self.state))  # the state may have moved on
            self.program.attach_feed(feed, card)
            if old is not None:
                self._retire(old)
        self.changes.publish(self.state)  # online once connected: see _session_presence
        return session

    def _apply(self, state: ShowState) -> None:
        super()._apply(state)
        for studio_id, session in self.sessions.items():
            session.set_decode_level(self._decode_level(studio_id, state))

    def _decode_level(self, studio_id: str, state: ShowState) -> str:
        """``full`` on program, preview or backup, else ``standby`` (rooms/decodepolicy.py)."""
        return decode_level(studio_id, mixerstate.watched_studios(self.show, state))

    async def publish_rtmp(self, studio_id: str, peer: str) -> RtmpStudio:
        """A studio's RTMP publish (rooms/rtmpserver.py, already authorised) takes the studio's place
        as a WHIP join does: registered, its feed attached, any previous session closed after."""
        self._check_studio(studio_id)
        async with self._publishing.setdefault(studio_id, asyncio.Lock()):
            old = self.sessions.get(studio_id)
            feed = FeedBuffer(studio_id)
            session = RtmpStudio(
                self.show.id, studio_id, feed, self._session_closed, self._session_presence, peer, self._rtmp_audio_only
            )
            self.sessions[studio_id] = session
            self.program.attach_feed(feed, None)
            if old is not None:
                self._retire(old)
        self.changes.publish(self.state)
        return session

    async def _rtmp_audio_only(self, session: RtmpStudio) -> None:
        """An RTMP push found to carry no video (rooms/rtmpstudio.py): on air as its studio card;
        called again if video starts after all (``session.audio_only`` false: its pictures)."""
        card = await self._studio_card(session.studio_id) if session.audio_only else None
        if self.sessions.get(session.studio_id) is session:
            self.program.attach_feed(session.feed, card if session.audio_only else None)  # video may have come

    def _retire(self, old: StudioSession) -> None:
        """Close a replaced session in the background: the new one's answer must not wait for it."""
        task = asyncio.ensure_future(old.close())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _studio_card(self, studio_id: str) -> av.VideoFrame:
        """The picture of an audio-only studio (drawn once, off the event loop)."""
        card = self._cards.get(studio_id)
        if card is None:
            studio = self.show.studio(studio_id)
            assert studio is not None
            place = " · ".join(x for x in (studio.place, studio.name_en) if x)
            card = await asyncio.to_thread(
                render_studio_card, self.show.width, self.show.height, studio.name, place, studio.photo
            )
            self._cards[studio_id] = card
        return card

    def session(self, studio_id: str, session_id: str) -> WhipSession | RemoteSession:
        session = self.sessions.get(studio_id)
        if session is None or isinstance(session, RtmpStudio) or session.id != session_id:
            raise NotFound("no such WHIP session (it may have ended)")
        return session

    async def _session_presence(self, session: StudioSession, online: bool) -> None:
        """A studio is online while its session is connected and its media arrives (not from
        the 201: see rooms/liveness.py); recorded as studio.joined / studio.left."""
        if self.sessions.get(session.studio_id) is not session:
            return
        if online:
            self.online.add(session.studio_id)
        else:
            self.online.discard(session.studio_id)
        self.changes.publish(self.state)
        await self._presence(session.studio_id, online)

    async def _session_closed(self, session: StudioSession) -> None:
        if self.sessions.get(session.studio_id) is not session:
            return  # replaced by a newer session: that one owns the studio now
        del self.sessions[session.studio_id]
        was_online = session.studio_id in self.online
        self.online.discard(session.studio_id)
        self.program.detach_feed(session.studio_id)
        self.changes.publish(self.state)
        await self.returns.close_return(session.studio_id)  # the host's return ends with their session
        if was_online:  # one studio.left: not again for a studio already offline, or never online
            await self._presence(session.studio_id, False)

    async def _presence(self, studio_id: str, online: bool) -> None:
        """Record a studio coming or going; best effort, since media must not wait on the store."""

        def change(s: ShowState) -> ShowState:
            others = set(s.online) - {studio_id}
            return dataclasses.replace(s, online=tuple(sorted(others | ({studio_id} if online else set()))))

        kind = "studio.joined" if online else "studio.left"
        event = Event(kind, self.show.id, f"studio:{studio_id}", {"studio": studio_id})
        await self.outbox.put(Fact(change, lambda old, new: [event]))  # queued if the store is away

    def link_generation(self, studio_id: str) -> int:
        return self.state.link_gens.get(studio_id, 0)

    async def revoke_link(self, studio_id: str, actor: str, kind: str) -> int:
        """Make the studio's current join link stop working at once and end its session.

        ``kind`` is ``studio.kicked`` or ``link.reissued`` for the audit trail.
        """
        self._check_studio(studio_id)

        def change(s: ShowState) -> ShowState:
            gens = {**s.link_gens, studio_id: s.link_gens.get(studio_id, 0) + 1}
            return dataclasses.replace(s, link_gens=gens)

        async def end_session(state: ShowState) -> None:
            session = self.sessions.get(studio_id)
            if session is not None:
                await session.close()

        def events(old: ShowState, new: ShowState) -> list[Event]:
            return [Event(kind, self.show.id, actor, {"studio": studio_id})]

        state = await self._command(change, events, end_session)
        return state.link_gens.get(studio_id, 0)
