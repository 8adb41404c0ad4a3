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
from mixer.outputs.delays import Delays
from mixer.outputs.egress import Egress
from mixer.outputs.flvoutput import FlvOutput
from mixer.outputs.hlsoutput import HlsOutput
from mixer.outputs.rtmpoutput import NAME_RE, check_rtmp_url, redact
from mixer.outputs.slateclip import SlateClip
from mixer.program import Program
from mixer.scene import LAYOUT_STUDIOS
from mixer.studiocard import render_studio_card
from orchestrator import alarms, catalogue, mixerstate, productimport
from orchestrator.bodies import ProductPatch
from orchestrator.config import Product, Show
from orchestrator.errors import BadRequest, Conflict, NotFound, Unavailable
from orchestrator.outbox import Check, Fact, Outbox
from orchestrator.outputwatch import POLL_S, OutputWatch
from orchestrator.returnfeeds import ReturnFeeds
from orchestrator.store import Commit, Cue, Event, ShowState, StateStore, StoreOutcomeUnknown, StoreUnavailable
from orchestrator.webhook import Webhook
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
        self.delays = Delays(self.program.encoder.request_keyframe)  # broadcast delay (延播) per output
        self.webhook: Webhook | None = None
        self._webhook_task: asyncio.Task[None] | None = None
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
        # Broadcast delay per RTMP destination: from the config, or the API call that added it (this node).
        self.rtmp_delays: dict[str, float] = {d.name: d.delay_s for d in show.outputs.rtmp}
        # ... and of the other outputs: the config's, or what the crew set while live (stored).
        self.pull_delays = dict.fromkeys(("hls", "flv", "whep", "webhook"), show.outputs.delay_s)
        # Audit events and media-plane facts, written in order, retried while the store is away.
        self.outbox = Outbox(store, show.id, lambda: self.state, self._committed)
        self._output_watch: asyncio.Future[None] | None = None
        self._follower: asyncio.Future[None] | None = None
        self._clock_tasks: set[asyncio.Future[None]] = set()  # fallbacks being recorded
        self._retiring: set[asyncio.Future[None]] = set()  # replaced sessions being closed
        self._cards: dict[str, av.VideoFrame] = {}  # audio-only studios' pictures, drawn once
        # Cards, lower third and logo: drawn over the program from what the state says is on air.
        self.graphics = GraphicsDirector(self.program.graphics, show.width, show.height)
        # Talk and listen: the hosts' return feeds and the crew's talkback (orchestrator/returnfeeds.py).
        self.returns = ReturnFeeds(
            show.id, self.program, lambda: self.changes.publish(self.state), ice_servers=self.whip.ice_servers
        )
        self.alarms = alarms.Alarms()  # rules in orchestrator/alarms.py
        self._alarm_watch: asyncio.Future[None] | None = None
        self._behind_since: float | None = None
        self._ever_live: set[str] = set()  # studios that have had a session: only these can be "lost"

    # -- life cycle ----------------------------------------------------------
    async def start(self) -> None:
        out = self.show.outputs
        # Delays set while live outlast a restart (a delayed output must not come back undelayed).
        saved_delays = None
        with contextlib.suppress(StoreUnavailable):
            saved_delays = await self.store.get_doc(self.show.id, "delays")
        if isinstance(saved_delays, dict):
            self.pull_delays.update(
                {k: float(v) for k, v in saved_delays.items() if k in self.pull_delays and isinstance(v, int | float)}
            )
        if any(v > 0 for v in self.pull_delays.values()) or any(d.delay_s > 0 for d in out.rtmp):
            await self._ensure_slate()
        if self.show.outputs.hls:
            self.hls = HlsOutput(
                self.hls_dir,
                segment_seconds=self.show.outputs.hls_segment_seconds,
                window=self.show.outputs.hls_window,
            )
            self.program.add_sink(self.delays.wrap(self.hls, self.pull_delays["hls"]))
        if self.show.outputs.flv:
            self.flv = FlvOutput(asyncio.get_running_loop())
            self.program.add_sink(self.delays.wrap(self.flv, self.pull_delays["flv"]))
        if self.show.webhook_url:
            loop = asyncio.get_running_loop()
            self.webhook = Webhook(self.show.id, self.show.webhook_url, self.show.webhook_secret, loop)
            self.program.add_sink(self.delays.wrap(self.webhook, self.pull_delays["webhook"]))
            self._webhook_task = asyncio.ensure_future(self.webhook.run())
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
        self.returns.start()
        self.program.start()
        self.multiview.start()
        self._follower = asyncio.ensure_future(self._follow())
        self._alarm_watch = asyncio.ensure_future(self._watch_alarms())

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
            delay=self.delays.wrap,
            whep_delay_s=self.pull_delays["whep"],
        )
        # RTMP and recording follow the stored state (see _sync_outputs). Before they were part
        # of it, API-set destinations were kept in an "rtmp" document: still honoured.
        saved = None
        with contextlib.suppress(StoreUnavailable):
            saved = await self.store.get_doc(self.show.id, "rtmp")
        if isinstance(saved, list):
            self._configured_rtmp = {str(d.get("name")): str(d.get("url")) for d in saved if isinstance(d, dict)}
        # Delays of destinations added through the API (a delayed push must stay delayed after a restart).
        delays = None
        with contextlib.suppress(StoreUnavailable):
            delays = await self.store.get_doc(self.show.id, "rtmp_delays")
        if isinstance(delays, dict):
            for name, seconds in delays.items():
                if isinstance(seconds, int | float) and 0 <= seconds <= 60:
                    self.rtmp_delays.setdefault(str(name), float(seconds))
        if any(v > 0 for v in self.rtmp_delays.values()):
            await self._ensure_slate()

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
                self.delays.forget(f"rtmp:{name}")
        for name, url in wanted.items():
            if name not in self.egress.rtmp:
                try:
                    self.egress.add_rtmp(name, url, self.rtmp_delays.get(name, 0.0))
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

    async def _ensure_slate(self) -> None:
        """What a dump puts on the delayed outputs: encoded once, in a thread (~0.2 s of CPU)."""
        if self.delays.slate is None:
            slate = self.program.compositor.compose_slate()
            self.delays.set_slate(await asyncio.to_thread(SlateClip.encode, self.program.fmt, slate))

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
        if self._alarm_watch is not None:
            self._alarm_watch.cancel()
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
        await self.returns.close()
        if self.egress is not None:
            await self.egress.close()
        await asyncio.get_running_loop().run_in_executor(None, self.program.stop)
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.wait({self._webhook_task}, timeout=2)
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
    async def add_rtmp(self, name: str, url: str, actor: str, delay_s: float = 0.0) -> dict[str, Any]:
        egress = self._require_egress()
        if not NAME_RE.match(name):
            raise BadRequest(f"destination name {name!r} must be lowercase letters, digits, '-' or '_'")
        problem = check_rtmp_url(url)
        if problem is not None:
            raise BadRequest(f"RTMP URL {problem}")
        self.rtmp_delays[name] = delay_s
        if delay_s > 0:
            await self._ensure_slate()
        try:
            await self.store.put_doc(self.show.id, "rtmp_delays", self.rtmp_delays)
        except StoreUnavailable as exc:
            log.warning("show %s: RTMP delays not saved (%s): after a restart %s is undelayed", self.show.id, exc, name)

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

    async def set_delay(self, output: str, delay_s: float, actor: str) -> dict[str, Any]:
        """Change one output's broadcast delay while live (``rtmp:{name}`` for a push); stored, audited.

        A longer delay holds that output still for the added seconds; a shorter one plays the
        held part out faster than real time (mixer/outputs/delayline.py).
        """
        if output not in self.delays.lines:
            raise NotFound(f"no output {output!r}; outputs: {', '.join(sorted(self.delays.lines))}")
        if delay_s > 0:
            await self._ensure_slate()
        try:
            old = self.delays.set(output, delay_s)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        if output.startswith("rtmp:"):
            self.rtmp_delays[output.removeprefix("rtmp:")] = delay_s
            docs = [("rtmp_delays", dict(self.rtmp_delays))]
        else:
            self.pull_delays[output] = delay_s
            docs = [("delays", dict(self.pull_delays))]
        for name, value in docs:
            try:
                await self.store.put_doc(self.show.id, name, value)
            except StoreUnavailable as exc:
                log.warning(
                    "show %s: delay of %s not saved (%s): a restart goes back to %s", self.show.id, output, exc, old
                )
        await self.audit("broadcast.delay_changed", actor, {"output": output, "from": old, "to": delay_s})
        return {"output": output, "delay_s": delay_s, "previous_s": old, "delays": self.delays.status()}

    async def dump(self, actor: str) -> dict[str, Any]:
        """Replace what every delayed output holds, not yet aired, with the slate (mixer/outputs/delayline.py)."""
        origin = self.program.encoder.time_origin
        dumped = self.delays.dump(time.time() - origin if origin is not None else None)
        if not dumped:
            raise Conflict("no output of this show is delayed: nothing to dump")
        await self.audit("broadcast.dumped", actor, {"outputs": dumped, "at": time.time()})
        return {"dumped": dumped, "delays": self.delays.status()}

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
        return await self._command(lambda s: mixerstate.on_preview(s, studio_id), lambda o, n: [event])

    async def set_cue(self, studio_id: str, product_id: str | None, message: str, actor: str) -> ShowState:
        """What the studio's host should present now: a product and/or a note from the crew."""
        self._check_studio(studio_id)
        if product_id is not None and not any(p.id == product_id for p in self.show.products):
            raise NotFound(f"show {self.show.id!r} has no product {product_id!r}")
        cue = Cue(product=product_id, message=message, at=time.time())

        def change(s: ShowState) -> ShowState:
            return dataclasses.replace(s, cues={**s.cues, studio_id: cue})

        def events(old: ShowState, new: ShowState) -> list[Event]:
            # The price the host was shown (the live one), in the audit trail too.
            shown = catalogue.product_view(self.show, new, product_id) if product_id else None
            price = {"price": shown["price"]} if shown else {}
            return [Event("cue.set", self.show.id, actor, {"studio": studio_id, **cue, **price})]

        return await self._command(change, events)

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

    async def set_rundown(self, studios: dict[str, list[str]], actor: str) -> dict[str, list[str]]:
        rundown = productimport.check_rundown(
            studios, {s.id for s in self.show.studios}, {p.id for p in self.show.products}
        )
        await self.store.put_doc(self.show.id, "rundown", rundown)
        self.rundown = rundown
        await self.audit("rundown.set", actor, {"studios": sorted(rundown)})
        self.changes.publish(self.state)
        return rundown

    async def show_card(
        self,
        slot: str,
        product_id: str,
        actor: str,
        *,
        countdown_s: int | None = None,
        confirm_price: bool = False,
        preview: bool = False,
    ) -> dict[str, Any]:
        """On air now, or (``preview``) with the next take."""
        catalogue.check_slot(slot)
        catalogue.find_product(self.show, product_id)

        def on_preview(s: ShowState) -> ShowState:
            return catalogue.put_preview_card(
                self.show, s, slot, product_id, countdown_s=countdown_s, confirm_price=confirm_price, actor=actor
            )

        if preview:
            event = Event("preview.card", self.show.id, actor, {"slot": slot, "product": product_id})
            state = await self._command(on_preview, lambda o, n: [event])
            pending = catalogue.graphics_view(self.show, state, time.time())["preview_cards"]
            return next(c for c in pending if c["slot"] == slot)

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

    async def hide_card(self, slot: str, actor: str, preview: bool = False) -> ShowState:
        catalogue.check_slot(slot)
        if preview:
            event = Event("preview.card_removed", self.show.id, actor, {"slot": slot})
            return await self._command(lambda s: catalogue.drop_preview_card(s, slot), lambda o, n: [event])
        return await self._change_graphics(lambda s: catalogue.drop_card(s, slot), actor)

    async def update_product(self, product_id: str, patch: ProductPatch, actor: str) -> dict[str, Any]:
        product = catalogue.find_product(self.show, product_id)
        changes = catalogue.check_patch(product, patch)
        confirm = patch.confirm_price

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

        now = time.time()

        def change(s: ShowState) -> ShowState:
            if s.preview is None:
                raise Conflict("nothing on preview to take")
            return catalogue.take_preview_cards(self.show, mixerstate.take(s, transition, ms), now)

        def events(old: ShowState, new: ShowState) -> list[Event]:
            detail = {"from": old.program, "to": old.preview, "transition": transition, "duration_ms": ms}
            take = Event("program.take", self.show.id, actor, detail)
            return [take, *catalogue.events_between(self.show, old, new, actor, now)]  # cards taken with it

        return await self._command(change, events)

    async def set_layout(
        self,
        layout: str,
        studios: list[str] | None,
        corner: str | None,
        transition: str,
        duration_ms: int | None,
        actor: str,
    ) -> ShowState:
        """Build a layout on preview; ``studios`` main first (default: preview, then program).

        Nothing goes to air until a take (:meth:`take`).
        """
        for studio_id in studios or ():
            self._check_studio(studio_id)
        need = LAYOUT_STUDIOS[layout]

        def change(s: ShowState) -> ShowState:
            wanted = list(studios) if studios else [s.preview, s.program][:need]
            chosen = [x for x in wanted if x is not None]
            if len(chosen) != need or len(set(chosen)) != need:
                raise BadRequest(
                    f"layout {layout!r} needs {need} different studio(s), got {wanted}"
                    " (give 'studios', or put studios on program and preview)"
                )
            return mixerstate.preview_layout(s, layout, chosen, corner)

        def event(s: ShowState) -> Event:
            detail = {"layout": layout, "studios": studios, "corner": corner}
            return Event("preview.layout", self.show.id, actor, detail)

        return await self._change_mixer(change, actor, event)

    async def set_panic(self, on: bool, actor: str) -> ShowState:
        """Slate and silence from the next frame (on), or back to the program bus (off)."""

        def event(s: ShowState) -> Event:
            return Event("program.panic", self.show.id, actor, {"on": on, "program": s.program})

        return await self._change_mixer(lambda s: dataclasses.replace(s, panic=on), actor, event)

    async def fade_to_black(self, on: bool, duration_ms: int | None, actor: str) -> ShowState:
        """Fade the program to black and silence (on) or back up (off) over ``duration_ms``."""
        ms = self.show.transition_ms if duration_ms is None else duration_ms

        def event(s: ShowState) -> Event:
            return Event("program.ftb", self.show.id, actor, {"on": on, "duration_ms": ms, "program": s.program})

        kind = "fade" if ms else "cut"
        return await self._change_mixer(lambda s: mixerstate.fade_to_black(s, on, kind, ms), actor, event)

    async def set_tbar(self, position: float, actor: str) -> ShowState:
        """The T-bar at ``position`` (0-1); reaching 1 takes the preview to air (as a cut)."""
        if position >= 1.0:
            state = await self.take("cut", 0, actor)
            return state
        return await self._change_mixer(lambda s: dataclasses.replace(s, tbar=position), actor, lambda s: None)

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
            try:
                found = alarms.fallback_condition(self.show, detail["from"], detail.get("to"), time.time())
                self._raised([self.alarms.raise_now(found, time.time())])
            except Exception:  # the alarm must never cost the fallback's own bookkeeping
                log.exception("show %s: fallback alarm not raised", self.show.id)
        elif kind == "program.returned":
            job = self.audit("program.returned", "system", detail)
            self.changes.publish(self.state)  # the hosts' tallies follow the clock (auto policy)
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

    # -- alarms (rules: orchestrator/alarms.py) ------------------------------------
    def signals(self) -> list[alarms.Signal]:
        now, wall = time.monotonic(), time.time()
        audio_only = self.program.audio_only()
        out = []
        for studio in self.show.studios:
            session = self.sessions.get(studio.id)
            _, seq, at = session.feed.latest_video() if session else (None, 0, 0.0)
            if session is not None and studio.id in audio_only:  # no picture by design: its sound is its signal
                at = self.program.audio.heard(studio.id)
                seq = 1 if at else 0
            age = now - at if seq else None
            if session is not None:
                self._ever_live.add(studio.id)
            last = wall - age if age is not None else None
            out.append(alarms.Signal(studio.id, session is not None, age, last, studio.id in self._ever_live))
        return out

    async def _watch_alarms(self) -> None:
        while True:
            await asyncio.sleep(alarms.CHECK_EVERY_S)
            try:
                self._check_alarms()
                await self._end_countdowns()
            except Exception:
                log.exception("show %s: alarm check failed", self.show.id)

    def _check_alarms(self) -> None:
        now, state, stats = time.time(), self.state, self.program.stats()
        behind = alarms.is_behind(stats)
        self._behind_since = (self._behind_since or now) if behind else None
        signals = self.signals()
        live = [s.studio for s in signals if s.session and s.frame_age_s is not None and s.frame_age_s < 1.0]
        in_use = {x for x in (state.program, *state.layout_studios, state.preview) if x}
        outputs = self.egress.status() if self.egress is not None else {}
        found = alarms.conditions(self.show, signals, in_use, live, stats, outputs, self._behind_since, now)
        before = [(a["id"], a["active"]) for a in self.alarms.view()]
        raised = self.alarms.update(found, now)
        self._raised(raised)
        if not raised and before != [(a["id"], a["active"]) for a in self.alarms.view()]:
            self.changes.publish(self.state)  # a cleared alarm: the pages show it at once

    def _raised(self, raised: list[alarms.Alarm]) -> None:
        for alarm in raised:
            detail = {"alarm": alarm.id, "cause": alarm.cause, "fix": alarm.fix}
            task = asyncio.ensure_future(self.audit("alarm.raised", "system", detail))
            self._clock_tasks.add(task)
            task.add_done_callback(self._clock_tasks.discard)
        if raised:
            self.changes.publish(self.state)

    async def acknowledge_alarm(self, alarm_id: str, actor: str) -> dict[str, Any]:
        alarm = self.alarms.acknowledge(alarm_id, actor, time.time())
        await self.audit("alarm.acknowledged", actor, {"alarm": alarm.id, "cause": alarm.cause})
        self.changes.publish(self.state)
        return alarm.to_json()

    def monitor_view(self) -> dict[str, object]:
        """The program monitor (MJPEG of the encoded output): its rate and how far behind it is.

        ``delay_ms``: measured from the frame's tick to its JPEG, plus half the stream's poll period.
        """
        mv = self.multiview
        delay = mv.program_delay
        return {
            "fps": round(1 / mv.period, 1),
            "width": mv.width,
            "height": mv.height,
            "delay_ms": round(1000 * (delay + mv.period / 2)) if delay is not None else None,
        }

    async def _end_countdowns(self) -> None:
        """A flash sale that has ended leaves the air: a card saying 00:00 with its price would mislead."""
        now = time.time()
        for slot, card in list(self.state.cards.items()):
            until = card.get("countdown_until")
            if until is not None and now >= float(until):
                with contextlib.suppress(NotFound, StoreUnavailable):
                    await self.hide_card(slot, "system:countdown")

    def mixer_view(self) -> dict[str, object]:
        return mixerstate.mixer_view(self.show, self.state, self.program)

    # -- views ---------------------------------------------------------------
    async def describe(self) -> dict[str, object]:
        state = self.state
        studios = []
        signals = {s.studio: s for s in self.signals()}
        audio_only = self.program.audio_only()
        for studio in self.show.studios:
            session = self.sessions.get(studio.id)
            age = signals[studio.id].frame_age_s
            studios.append(
                {
                    "id": studio.id,
                    "name": studio.name,
                    "name_en": studio.name_en,
                    "place": studio.place,
                    "online": studio.id in self.online,
                    # "ok", "none" (session up, nothing for NO_SIGNAL_AFTER_S) or "offline"
                    "signal": "offline"
                    if session is None
                    else ("ok" if age is not None and age <= alarms.NO_SIGNAL_AFTER_S else "none"),
                    "frame_age_s": round(age, 1) if age is not None else None,
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
        if self.webhook is not None:
            outputs["webhook"] = self.webhook.status()
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
            "delays": self.delays.status(),  # per delayed output: delay_s, behind_s (seconds behind live)
            "alarms": self.alarms.view(),
            "monitor": self.monitor_view(),
            "timezone": self.show.timezone,
        }
