"""A show's outputs: HLS, HTTP-FLV, webhook, the egress (WHEP, RTMP pushes, recording),
broadcast delays and dumps, and the watch that audits output failures.

RTMP destinations and the recording follow the stored state (:meth:`ShowOutputs._sync_outputs`);
delays set while live are kept in the store's ``delays`` / ``rtmp_delays`` documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from mixer.outputs.delays import Delays
from mixer.outputs.egress import Egress
from mixer.outputs.flvoutput import FlvOutput
from mixer.outputs.hlsoutput import HlsOutput
from mixer.outputs.rtmpoutput import NAME_RE, check_rtmp_url, redact
from mixer.outputs.slateclip import SlateClip
from orchestrator.commandpath import CommandPath
from orchestrator.config import Show
from orchestrator.crewmonitor import CrewMonitor
from orchestrator.errors import BadRequest, Conflict, NotFound, Unavailable
from orchestrator.outputwatch import POLL_S, OutputWatch
from orchestrator.store import Event, ShowState, StateStore, StoreUnavailable
from orchestrator.webhook import Webhook
from rooms.whipsession import WhipOptions

log = logging.getLogger(__name__)


class ShowOutputs(CommandPath):
    """The outputs of one show's program and the commands that change them."""

    def __init__(self, show: Show, store: StateStore, data_dir: Path, whip: WhipOptions | None = None) -> None:
        super().__init__(show, store, data_dir, whip)
        self.hls_dir = data_dir / "live" / show.id
        self.hls: HlsOutput | None = None
        self.flv: FlvOutput | None = None
        self.egress: Egress | None = None  # WHEP, RTMP push, recording (changed while live)
        self.crew: CrewMonitor | None = None  # the control page's program monitor and solo (PFL)
        self.delays = Delays(self.program.encoder.request_keyframe)  # broadcast delay (延播) per output
        self.webhook: Webhook | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self.recordings_dir = data_dir / "recordings" / show.id
        # RTMP destinations until the crew changes them: the config's (or a list saved by an older version).
        self._configured_rtmp: dict[str, str] = {d.name: d.url for d in show.outputs.rtmp}
        # Broadcast delay per RTMP destination: from the config, or the API call that added it (this node).
        self.rtmp_delays: dict[str, float] = {d.name: d.delay_s for d in show.outputs.rtmp}
        # ... and of the other outputs: the config's, or what the crew set while live (stored).
        self.pull_delays = dict.fromkeys(("hls", "flv", "whep", "webhook"), show.outputs.delay_s)
        self._output_watch: asyncio.Future[None] | None = None

    async def _start_outputs(self) -> None:
        """Start the outputs the config asks for, with the delays stored while live."""
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
        self.crew = CrewMonitor(
            self.show.id,
            asyncio.get_running_loop(),
            self.program.encoder,
            self.program.audio,
            lambda: [s.id for s in self.show.studios],
            ice_servers=list(self.whip.ice_servers),
        )

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
