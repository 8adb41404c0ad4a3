"""One show live on this node: its studios' sessions, its program and outputs.

Commands arrive here from the HTTP edge and take one path (:meth:`ShowRunner._command`):
load the state, change it, store it (compare-and-set against what this node knows, so a
store that went backwards is repaired instead of obeyed), apply it to the media plane,
then record the audit events through the :class:`~orchestrator.outbox.Outbox` (queued
and retried if the store fails now: the command has happened). A command that fails
before its state is stored changed nothing (4xx, or 503 when the store is away).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from mixer.encodedpacket import ProgramFormat
from mixer.graphics.director import GraphicsDirector
from mixer.multiview import Multiview
from mixer.outputs.egress import Egress
from mixer.outputs.flvoutput import FlvOutput
from mixer.outputs.hlsoutput import HlsOutput
from mixer.outputs.rtmpoutput import NAME_RE, check_rtmp_url, redact
from mixer.program import Program
from mixer.scene import LAYOUT_STUDIOS
from mixer.studiocard import render_studio_card
from orchestrator import catalogue, mixerstate, productimport
from orchestrator.config import Product, Show
from orchestrator.errors import BadRequest, Conflict, NotFound, Unavailable
from orchestrator.outbox import Check, Fact, Outbox
from orchestrator.outputwatch import POLL_S, OutputWatch
from orchestrator.store import Commit, Event, ShowState, StateStore, StoreOutcomeUnknown, StoreUnavailable
from rooms.feedbuffer import FeedBuffer
from rooms.hostchannel import Changes
from rooms.mediakinds import sent_kinds
from rooms.whipsession import WhipOptions, WhipSession

log = logging.getLogger(__name__)


class ShowRunner:
    def __init__(self, show: Show, store: StateStore, data_dir: Path, whip: WhipOptions | None = None) -> None:
        self.show = show  # with imported products merged in (see _load_catalogue)
        self.config_show = show
        self.rundown: dict[str, list[str]] = {}
        self.whip = whip or WhipOptions()
        # Every applied state (and every studio coming or going) goes out to the host pages.
        self.changes: Changes[ShowState] = Changes()
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
        self.egress: Egress | None = None  # WHEP, RTMP push, recording (changed while live)
        self.recordings_dir = data_dir / "recordings" / show.id
        self.sessions: dict[str, WhipSession] = {}  # studio id -> live session
        self.online: set[str] = set()  # studios whose session is connected and receiving media
        # dict() copies atomically: the multiview thread must not iterate a dict the loop mutates.
        self.multiview = Multiview(
            lambda: {sid: s.feed for sid, s in dict(self.sessions).items()}, cards=self.program.audio_only
        )
        self._lock = asyncio.Lock()
        self._publishing: dict[str, asyncio.Lock] = {}
        self.state = ShowState(show=show.id)  # the last state applied to the program
        self._loaded = False  # the stored state has been read (start, or the follower later)
        # RTMP destinations until the crew changes them: the config's (or a list saved by an older version).
        self._configured_rtmp: dict[str, str] = {d.name: d.url for d in show.outputs.rtmp}
        # Audit events and media-plane facts, written in order, retried while the store is away.
        self.outbox = Outbox(store, show.id, lambda: self.state, self._committed)
        self._output_watch: asyncio.Future[None] | None = None
        self._follower: asyncio.Future[None] | None = None
        self._clock_tasks: set[asyncio.Future[None]] = set()  # fallbacks being recorded
        self._retiring: set[asyncio.Future[None]] = set()  # replaced sessions being closed
        self._cards: dict[str, av.VideoFrame] = {}  # audio-only studios' pictures, drawn once
        # Cards, lower third and logo: drawn over the program from what the state says is on air.
        self.graphics = GraphicsDirector(self.program.graphics, show.width, show.height)

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
        await self._start_egress()
        await self._load_catalogue()
        # Sessions did not survive whatever stopped us: nobody is online yet.
        try:
            state = await self.store.update(self.show.id, lambda s: dataclasses.replace(s, online=()))
            self._loaded = True
        except StoreUnavailable as exc:
            log.error("show %s: state store unavailable at start (%s); starting on the slate", self.show.id, exc)
            state = ShowState(show=self.show.id)
        self._apply(state)
        await self._sync_outputs(state)
        self.outbox.start()
        self._output_watch = asyncio.ensure_future(self._watch_outputs())
        loop = asyncio.get_running_loop()
        self.program.on_event = lambda kind, detail: loop.call_soon_threadsafe(self._clock_event, kind, detail)
        self.program.add_sink(self.multiview.monitor)
        self.program.start()
        self.multiview.start()
        self._follower = asyncio.ensure_future(self._follow())

    async def _start_egress(self) -> None:
        out = self.show.outputs
        self.egress = Egress(
            self.show.id,
            self.program.encoder,
            asyncio.get_running_loop(),
            whep=out.whep,
            whep_max_viewers=out.whep_max_viewers,
            recordings_dir=self.recordings_dir,
            rotate_seconds=out.recording_rotate_seconds,
            rtmp_backoff=(out.rtmp_backoff_min, out.rtmp_backoff_max),
            ice_servers=list(self.whip.ice_servers),
        )
        # RTMP and recording follow the stored state (see _sync_outputs). Before they were part
        # of it, API-set destinations were kept in an "rtmp" document: still honoured.
        saved = None
        with contextlib.suppress(StoreUnavailable):
            saved = await self.store.get_doc(self.show.id, "rtmp")
        if isinstance(saved, list):
            self._configured_rtmp = {str(d.get("name")): str(d.get("url")) for d in saved if isinstance(d, dict)}

    def _rtmp_of(self, state: ShowState) -> dict[str, str]:
        return self._configured_rtmp if state.rtmp is None else state.rtmp

    def _recording_of(self, state: ShowState) -> bool:
        return self.show.outputs.recording if state.recording is None else state.recording

    async def _sync_outputs(self, state: ShowState) -> None:
        """Make the RTMP pushes and the recording what ``state`` says (after it is stored)."""
        if self.egress is None:
            return
        wanted = self._rtmp_of(state)
        for name, output in list(self.egress.rtmp.items()):
            if wanted.get(name) != output.url:
                await self.egress.remove_rtmp(name)
        for name, url in wanted.items():
            if name not in self.egress.rtmp:
                try:
                    self.egress.add_rtmp(name, url)
                except (KeyError, ValueError) as exc:
                    log.error("show %s: RTMP destination %r not started: %s", self.show.id, name, exc)
        await self.egress.set_recording(self._recording_of(state))

    async def _watch_outputs(self) -> None:
        """Output failures and recoveries go to the audit trail (queued while the store is away)."""
        watch = OutputWatch()
        while True:
            await asyncio.sleep(POLL_S)
            if self.egress is not None:
                for kind, detail in watch.changes(self.egress):
                    self.outbox.put_nowait(Event(kind, self.show.id, "system", detail))

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
                        if not self._loaded:  # the store was away at start: outputs as stored
                            self._loaded = True
                            await self._sync_outputs(state)
                    elif state.version < self.state.version:
                        # Redis came back older (empty, or an old snapshot): put our state back now,
                        # through the outbox so it stays in order with facts queued meanwhile.
                        self.outbox.put_nowait(Fact(lambda s: s))
                    self.outbox.kick()
            except StoreUnavailable as exc:
                log.warning("show %s: lost the state store's change feed (%s); retrying", self.show.id, exc)
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            # Bounded: closing a Redis subscription must not hold up the shutdown.
            await asyncio.wait({self._follower}, timeout=2)
        if self._output_watch is not None:
            self._output_watch.cancel()
        await self.outbox.stop()
        for session in list(self.sessions.values()):
            await session.close()
        if self._retiring:
            await asyncio.wait(set(self._retiring), timeout=WhipSession.CLOSE_TIMEOUT_S + 1)
        if self.egress is not None:
            await self.egress.close()
        await asyncio.get_running_loop().run_in_executor(None, self.program.stop)
        await self.graphics.close()
        self.multiview.stop()

    # -- the one command path ----------------------------------------------------
    async def _command(
        self,
        change: Callable[[ShowState], ShowState],
        events: Callable[[ShowState, ShowState], list[Event]],
        then: Callable[[ShowState], Any] | None = None,
    ) -> ShowState:
        """Store ``change``, apply it, run ``then`` (more media-plane work), record ``events``.

        ``events(before, after)`` builds the audit lines from the state the change really
        applied to. Raises what ``change`` raises or :class:`StoreUnavailable` (503) before
        anything is stored or applied; after the store write nothing can fail the command.
        """
        before: list[ShowState] = []

        def recorded(s: ShowState) -> ShowState:
            before.append(s)  # the state the change really applied to (a store may retry)
            return change(s)

        await self.outbox.flush()  # what the media plane did first, in order
        async with self._lock:
            try:
                done = await self.store.commit(self.show.id, recorded, self.state)
            except StoreOutcomeUnknown as exc:
                # Not "nothing changed": it may have been stored. If so, it goes on air and its
                # events are written when the store is back; the crew must look before repeating it.
                self.outbox.put_nowait(Check(exc.attempted, events(before[-1], exc.attempted)))
                raise Unavailable(
                    f"state store failed while storing the change, and it may or may not have been "
                    f"stored: if it was, it goes on air when the store is back; check the show's state "
                    f"before repeating it ({exc})"
                ) from exc
            first = await self._committed(done)
        if then is not None:
            await then(done.state)
        await self.outbox.put(*first, *events(before[-1], done.state))
        return done.state

    async def _committed(self, done: Commit) -> list[Event]:
        """Apply a stored state; after a repaired rollback, the events to write before any other."""
        if done.state.version > self.state.version:  # (the change feed may have applied a newer one)
            self._apply(done.state)
        try:
            await self._sync_outputs(self.state)
        except Exception:  # stored is stored: an output that fails shows it in its status
            log.exception("show %s: outputs not set as stored", self.show.id)
        if done.replaced is None:
            return []
        stale = done.replaced
        log.error(
            "show %s: STATE STORE WENT BACKWARDS (stored version %d, this node had %d); "
            "restored this node's state as version %d instead of applying the stale one",
            self.show.id,
            stale.version,
            done.state.version - 1,
            done.state.version,
        )
        await self._save_docs()
        newest = 0.0
        with contextlib.suppress(StoreUnavailable):
            recent = await self.store.events(self.show.id, 1)
            newest = recent[-1].at if recent else 0.0
        detail = {"found_version": stale.version, "restored_version": done.state.version - 1}
        return [*self.outbox.replay_after(newest), Event("state.restored", self.show.id, "system", detail)]

    async def _save_docs(self) -> None:
        """Imported products and the rundown, written again after the store lost them."""
        extra = [productimport.product_to_row(p) for p in self.show.products if p not in self.config_show.products]
        try:
            if extra:
                await self.store.put_doc(self.show.id, "catalogue", extra)
            if self.rundown:
                await self.store.put_doc(self.show.id, "rundown", self.rundown)
        except StoreUnavailable as exc:
            log.error("show %s: catalogue/rundown not restored to the store: %s", self.show.id, exc)

    def _apply(self, state: ShowState) -> None:
        self.state = state
        self.program.set_scene(mixerstate.scene_of(self.show, state))
        self.graphics.request(catalogue.graphics_scene(self.show, state))
        self.changes.publish(state)

    def _check_studio(self, studio_id: str) -> None:
        if self.show.studio(studio_id) is None:
            raise NotFound(f"show {self.show.id!r} has no studio {studio_id!r}")

    # -- studios -------------------------------------------------------------
    async def publish(self, studio_id: str, offer_sdp: str, client: str = "", reconnect: bool = False) -> WhipSession:
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
            session = WhipSession(
                self.show.id, studio_id, feed, self._session_closed, self.whip, client, self._session_presence
            )
            await session.accept(offer_sdp)
            card = None if "video" in sent_kinds(offer_sdp) else await self._studio_card(studio_id)
            # Registered before the old one closes: hosts see one change (old -> new), never "no session".
            self.sessions[studio_id] = session
            self.program.attach_feed(feed, card)
            if old is not None:
                self._retire(old)
        self.changes.publish(self.state)  # online once connected: see _session_presence
        return session

    def _retire(self, old: WhipSession) -> None:
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

    # -- RTMP destinations and recording (stored state, like the rest) -----------------
    async def add_rtmp(self, name: str, url: str, actor: str) -> dict[str, Any]:
        egress = self._require_egress()
        if not NAME_RE.match(name):
            raise BadRequest(f"destination name {name!r} must be lowercase letters, digits, '-' or '_'")
        problem = check_rtmp_url(url)
        if problem is not None:
            raise BadRequest(f"RTMP URL {problem}")

        def change(s: ShowState) -> ShowState:
            current = self._rtmp_of(s)
            if name in current:
                raise Conflict(f"destination {name!r} exists; DELETE it first")
            return dataclasses.replace(s, rtmp={**current, name: url})

        def events(old: ShowState, new: ShowState) -> list[Event]:
            return [Event("output.rtmp.added", self.show.id, actor, {"name": name, "url": redact(url)})]

        await self._command(change, events)
        output = egress.rtmp.get(name)  # (gone already if another node removed it meanwhile)
        return (
            output.status()
            if output
            else {"name": name, "kind": "rtmp", "url": redact(url), "state": "removed", "up": False}
        )

    async def remove_rtmp(self, name: str, actor: str) -> None:
        self._require_egress()

        def change(s: ShowState) -> ShowState:
            current = self._rtmp_of(s)
            if name not in current:
                raise NotFound(f"no RTMP destination {name!r}")
            return dataclasses.replace(s, rtmp={k: v for k, v in current.items() if k != name})

        def events(old: ShowState, new: ShowState) -> list[Event]:
            return [Event("output.rtmp.removed", self.show.id, actor, {"name": name})]

        await self._command(change, events)

    async def set_recording(self, on: bool, actor: str) -> dict[str, Any]:
        egress = self._require_egress()

        def events(old: ShowState, new: ShowState) -> list[Event]:
            if self._recording_of(old) == on:
                return []
            return [Event("recording.started" if on else "recording.stopped", self.show.id, actor, {})]

        await self._command(lambda s: dataclasses.replace(s, recording=on), events)
        return egress.recording_status()

    def _require_egress(self) -> Egress:
        if self.egress is None:
            raise Unavailable("outputs are not running")
        return self.egress

    async def audit(self, kind: str, actor: str, detail: dict[str, Any]) -> None:
        """An audit event that must not fail the command it records (the change happened):
        queued and retried in order while the store is away."""
        await self.outbox.put(Event(kind, self.show.id, actor, detail))

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

    def session(self, studio_id: str, session_id: str) -> WhipSession:
        session = self.sessions.get(studio_id)
        if session is None or session.id != session_id:
            raise NotFound("no such WHIP session (it may have ended)")
        return session

    async def _session_presence(self, session: WhipSession, online: bool) -> None:
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

    async def _session_closed(self, session: WhipSession) -> None:
        if self.sessions.get(session.studio_id) is not session:
            return  # replaced by a newer session: that one owns the studio now
        del self.sessions[session.studio_id]
        was_online = session.studio_id in self.online
        self.online.discard(session.studio_id)
        self.program.detach_feed(session.studio_id)
        self.changes.publish(self.state)
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

    # -- commands ------------------------------------------------------------
    async def cut(self, studio_id: str | None, actor: str) -> ShowState:
        """Put a studio (or None: the slate) on program at the next tick."""
        if studio_id is not None:
            self._check_studio(studio_id)
        event = Event("program.cut", self.show.id, actor, {"studio": studio_id})
        return await self._command(lambda s: mixerstate.on_program(s, studio_id, "cut", 0), lambda o, n: [event])

    async def set_preview(self, studio_id: str | None, actor: str) -> ShowState:
        if studio_id is not None:
            self._check_studio(studio_id)
        event = Event("preview.set", self.show.id, actor, {"studio": studio_id})
        return await self._command(lambda s: dataclasses.replace(s, preview=studio_id), lambda o, n: [event])

    async def set_cue(self, studio_id: str, product_id: str | None, message: str, actor: str) -> ShowState:
        """What the studio's host should present now: a product and/or a note from the crew."""
        self._check_studio(studio_id)
        if product_id is not None and not any(p.id == product_id for p in self.show.products):
            raise NotFound(f"show {self.show.id!r} has no product {product_id!r}")
        cue = {"product": product_id, "message": message, "at": time.time()}

        def change(s: ShowState) -> ShowState:
            return dataclasses.replace(s, cues={**s.cues, studio_id: cue})

        event = Event("cue.set", self.show.id, actor, {"studio": studio_id, **cue})
        return await self._command(change, lambda o, n: [event])

    # -- graphics: cards, lower third, logo (rules in orchestrator/catalogue.py) --
    async def _change_graphics(self, change: Callable[[ShowState], ShowState], actor: str) -> ShowState:
        """Store ``change``, apply it, record what went on or off air, and wait until it is drawn."""

        def events(old: ShowState, new: ShowState) -> list[Event]:
            return catalogue.events_between(self.show, old, new, actor, time.time())

        state = await self._command(change, events)
        await self.graphics.settle()
        return state

    def products(self) -> list[dict[str, Any]]:
        return catalogue.products_view(self.show, self.state)

    async def _load_catalogue(self) -> None:
        """Imported products and the rundown live beside the state in the store."""
        try:
            imported = await self.store.get_doc(self.show.id, "catalogue")
            self.rundown = await self.store.get_doc(self.show.id, "rundown") or {}
        except StoreUnavailable as exc:
            log.error("show %s: cannot load imported catalogue (%s): config catalogue only", self.show.id, exc)
            return
        if imported:
            rows = [productimport.product_from_row(r, f"stored row {i}") for i, r in enumerate(imported)]
            self.show = dataclasses.replace(self.show, products=productimport.merge(self.config_show.products, rows))

    async def import_products(self, products: list[Product], actor: str) -> int:
        merged = productimport.merge(self.show.products, products)
        extra = [p for p in merged if p not in self.config_show.products]
        await self.store.put_doc(self.show.id, "catalogue", [productimport.product_to_row(p) for p in extra])
        self.show = dataclasses.replace(self.show, products=merged)
        await self.audit("catalogue.imported", actor, {"products": len(products), "total": len(merged)})
        self.changes.publish(self.state)
        return len(merged)

    async def set_rundown(self, body: Any, actor: str) -> dict[str, list[str]]:
        rundown = productimport.check_rundown(
            body, {s.id for s in self.show.studios}, {p.id for p in self.show.products}
        )
        await self.store.put_doc(self.show.id, "rundown", rundown)
        self.rundown = rundown
        await self.audit("rundown.set", actor, {"studios": sorted(rundown)})
        self.changes.publish(self.state)
        return rundown

    async def show_card(
        self, slot: str, product_id: str, actor: str, *, countdown_s: int | None = None, confirm_price: bool = False
    ) -> dict[str, Any]:
        catalogue.check_slot(slot)
        catalogue.find_product(self.show, product_id)

        def change(s: ShowState) -> ShowState:
            return catalogue.put_card(
                self.show,
                s,
                slot,
                product_id,
                countdown_s=countdown_s,
                confirm_price=confirm_price,
                actor=actor,
                now=time.time(),
            )

        state = await self._change_graphics(change, actor)
        return catalogue.card_view(self.show, state, slot, time.time())

    async def hide_card(self, slot: str, actor: str) -> ShowState:
        catalogue.check_slot(slot)
        return await self._change_graphics(lambda s: catalogue.drop_card(s, slot), actor)

    async def update_product(self, product_id: str, body: dict[str, Any], actor: str) -> dict[str, Any]:
        product = catalogue.find_product(self.show, product_id)
        changes = catalogue.check_patch(product, body)
        confirm = catalogue.check_confirm(body.get("confirm_price", False))

        def change(s: ShowState) -> ShowState:
            return catalogue.patch_product(self.show, s, product_id, changes, confirm_price=confirm)

        state = await self._change_graphics(change, actor)
        return catalogue.live_product(product, state).to_json(catalogue.on_air_slots(state, product_id))

    async def show_lower_third(self, studio_id: str, text: str, actor: str) -> ShowState:
        self._check_studio(studio_id)
        return await self._change_graphics(lambda s: catalogue.put_lower_third(self.show, s, studio_id, text), actor)

    async def hide_lower_third(self, actor: str) -> ShowState:
        return await self._change_graphics(catalogue.drop_lower_third, actor)

    async def set_logo(self, on: bool, actor: str) -> ShowState:
        return await self._change_graphics(lambda s: dataclasses.replace(s, logo=on), actor)

    # -- mixer: take, layout, panic, audio, fallback (clock rules: mixer/program.py) --
    async def _change_mixer(
        self, change: Callable[[ShowState], ShowState], actor: str, event: Callable[[ShowState], Event | None]
    ) -> ShowState:
        """Store ``change`` and apply it; ``event`` builds the audit line from the state it replaced."""

        def events(old: ShowState, new: ShowState) -> list[Event]:
            line = event(old)
            return [] if line is None else [line]

        return await self._command(change, events)

    async def take(self, transition: str, duration_ms: int | None, actor: str) -> ShowState:
        """Preview to program with a transition; the old program goes to preview (a swap)."""
        ms = self.show.transition_ms if duration_ms is None else duration_ms

        def change(s: ShowState) -> ShowState:
            if s.preview is None:
                raise Conflict("nothing on preview to take")
            return mixerstate.on_program(s, s.preview, transition, ms, preview=s.program)

        def event(s: ShowState) -> Event:
            detail = {"from": s.program, "to": s.preview, "transition": transition, "duration_ms": ms}
            return Event("program.take", self.show.id, actor, detail)

        return await self._change_mixer(change, actor, event)

    async def set_layout(
        self,
        layout: str,
        studios: list[str] | None,
        corner: str | None,
        transition: str,
        duration_ms: int | None,
        actor: str,
    ) -> ShowState:
        """The program's layout; ``studios`` main first (default: program, then preview)."""
        for studio_id in studios or ():
            self._check_studio(studio_id)
        ms = self.show.transition_ms if duration_ms is None else duration_ms
        need = LAYOUT_STUDIOS[layout]

        def change(s: ShowState) -> ShowState:
            wanted = list(studios) if studios else [s.program, s.preview][:need]
            chosen = [x for x in wanted if x is not None]
            if len(chosen) != need or len(set(chosen)) != need:
                raise BadRequest(
                    f"layout {layout!r} needs {need} different studio(s), got {wanted}"
                    " (give 'studios', or put studios on program and preview)"
                )
            return dataclasses.replace(
                mixerstate.on_program(s, chosen[0], transition, ms),
                layout=layout,
                layout_studios=tuple(chosen[1:]),
                corner=corner or s.corner,
            )

        def event(s: ShowState) -> Event:
            detail = {"layout": layout, "studios": studios, "corner": corner, "transition": transition}
            return Event("program.layout", self.show.id, actor, detail)

        return await self._change_mixer(change, actor, event)

    async def set_panic(self, on: bool, actor: str) -> ShowState:
        """Slate and silence from the next frame (on), or back to the program bus (off)."""

        def event(s: ShowState) -> Event:
            return Event("program.panic", self.show.id, actor, {"on": on, "program": s.program})

        return await self._change_mixer(lambda s: dataclasses.replace(s, panic=on), actor, event)

    async def set_audio(self, studio_id: str, gain_db: float | None, mute: bool | None, actor: str) -> ShowState:
        self._check_studio(studio_id)

        def change(s: ShowState) -> ShowState:
            gains = dict(s.gains_db)
            if gain_db is not None:
                gains[studio_id] = gain_db
            muted = set(s.muted)
            if mute is not None:
                muted = muted | {studio_id} if mute else muted - {studio_id}
            return dataclasses.replace(s, gains_db=gains, muted=tuple(sorted(muted)))

        def event(s: ShowState) -> Event:
            detail = {"studio": studio_id, "gain_db": gain_db, "mute": mute}
            return Event("audio.set", self.show.id, actor, detail)

        return await self._change_mixer(change, actor, event)

    async def set_fallback_policy(self, policy: str, actor: str) -> ShowState:
        """``auto`` or ``manual`` from now on (mixer/fallback.py); overrides the config, survives restarts."""

        def event(s: ShowState) -> Event:
            return Event("program.fallback_policy", self.show.id, actor, {"policy": policy})

        return await self._change_mixer(lambda s: dataclasses.replace(s, fallback_policy=policy), actor, event)

    def _clock_event(self, kind: str, detail: dict[str, Any]) -> None:
        """From the program clock (via call_soon_threadsafe): record it through the store."""
        if kind == "program.fallback":
            job = self._fallen_back(detail)
        elif kind == "program.returned":
            job = self.audit("program.returned", "system", detail)
        else:
            return
        task = asyncio.ensure_future(job)
        self._clock_tasks.add(task)
        task.add_done_callback(self._clock_tasks.discard)

    async def _fallen_back(self, detail: dict[str, Any]) -> None:
        """The program studio failed on air (policy in mixer/fallback.py).

        ``manual``: the fallback becomes the stored program (latched, on every node and after a
        restart). ``auto``: the stored program stays (the clock returns to it by itself); only
        the event is recorded.
        """
        failed, to = detail["from"], detail["to"]
        if detail.get("policy") != "manual":
            await self.audit("program.fallback", "system", detail)
            return

        def change(s: ShowState) -> ShowState:
            if s.program != failed:
                return s  # an operator changed the program meanwhile
            return dataclasses.replace(s, program=to, layout="single", layout_studios=())

        def event(s: ShowState) -> Event:
            return Event("program.fallback", self.show.id, "system", detail)

        await self.outbox.put(Fact(change, lambda old, new: [event(old)]))  # queued if the store is away

    def mixer_view(self) -> dict[str, object]:
        return mixerstate.mixer_view(self.show, self.state, self.program)

    # -- views ---------------------------------------------------------------
    async def describe(self) -> dict[str, object]:
        state = self.state
        studios = []
        audio_only = self.program.audio_only()
        for studio in self.show.studios:
            session = self.sessions.get(studio.id)
            studios.append(
                {
                    "id": studio.id,
                    "name": studio.name,
                    "name_en": studio.name_en,
                    "place": studio.place,
                    "online": studio.id in self.online,
                    "audio_only": studio.id in self.sessions and studio.id in audio_only,
                    "cue": state.cues.get(studio.id),
                    "stats": session.stats() if session else None,
                }
            )
        outputs: dict[str, object] = {}
        if self.hls:
            outputs["hls"] = {"url": f"/live/{self.show.id}/index.m3u8", **self.hls.status()}
        if self.flv:
            outputs["flv"] = {"url": f"/live/{self.show.id}.flv", **self.flv.status()}
        if self.egress is not None:
            outputs.update(self.egress.status())
        return {
            "show": self.show.id,
            "title": self.show.title,
            "program": state.program,
            "preview": state.preview,
            "on_air": self.program.on_air,
            "version": state.version,
            "studios": studios,
            **catalogue.graphics_view(self.show, state, time.time()),
            "products": len(self.show.products),
            **self.mixer_view(),
            "mixer": self.program.stats(),
            "outputs": outputs,
        }


def studio_or_none(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest("'studio' must be a studio id string or null")
    return value
