"""A show's outputs: HLS, HTTP-FLV, webhook, the egress (WHEP, RTMP pushes, recording) and
the further programs' outputs (``showprograms.py``); the recording command, and the watch that
audits output failures.

RTMP destinations and the recording follow the stored state (:meth:`ShowOutputs._sync_outputs`).
The commands built on these outputs, one concept each: RTMP destinations
(``rtmpdestinations.py``), broadcast delays and dumps (``broadcastdelays.py``), the further
programs added and removed live (``programcommands.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

from mixer.multiview import Multiview
from mixer.outputs.delays import Delays
from mixer.outputs.egress import Egress
from mixer.outputs.flvoutput import FlvOutput
from mixer.outputs.hlsoutput import HlsOutput
from mixer.outputs.slateclip import SlateClip
from orchestrator.commandpath import CommandPath
from orchestrator.config import Show
from orchestrator.crewmonitor import CrewMonitor
from orchestrator.errors import Unavailable
from orchestrator.outputwatch import POLL_S, OutputWatch
from orchestrator.showprograms import ShowPrograms
from orchestrator.store import Event, ShowState, StateStore
from orchestrator.webhook import Webhook
from rooms.whipsession import WhipOptions

log = logging.getLogger(__name__)


class ShowOutputs(CommandPath):
    """The outputs of one show's programs: started, kept as the stored state says, watched."""

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
        self._rtmp_programs = {d.name: d.program for d in show.outputs.rtmp}  # which program each pushes
        self.programs = ShowPrograms(
            show,
            self.program,
            self.graphics,
            lambda: self.multiview,
            data_dir,
            list(self.whip.ice_servers),
            lambda: dict(self.pull_delays),
        )
        self.more_programs = self.programs.outputs  # program id ({show}-portrait) -> its outputs

    multiview: Multiview  # made by ShowView: the further programs' monitors go there

    async def _start_outputs(self) -> None:
        """Start the outputs the config asks for, with the delays stored while live."""
        out = self.show.outputs
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
        self.programs.start()
        self.crew = CrewMonitor(
            self.show.id,
            asyncio.get_running_loop(),
            self.program.encoder,
            self.program.audio,
            lambda: [s.id for s in self.show.studios],
            ice_servers=list(self.whip.ice_servers),
        )

    async def _start_egress(self) -> None:
        """The changeable outputs: WHEP, and the RTMP pushes and recording the state asks for."""
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

    def _egress_of(self, rtmp_name: str) -> Egress | None:
        """The egress of the program an RTMP destination pushes (config ``program``; default the main
        one); None while that program is not running (its pushes wait for it)."""
        orientation = self._rtmp_programs.get(rtmp_name, "")
        if orientation and orientation != self.programs.main:
            found = self.more_programs.get(self.show.program_id(orientation))
            return found.egress if found is not None else None
        return self.egress

    def _egresses(self) -> list[tuple[Egress, Delays]]:
        """Every program's changeable outputs with its delay lines, main first."""
        main = [(self.egress, self.delays)] if self.egress is not None else []
        return main + [(p.egress, p.delays) for p in self.more_programs.values()]

    def _rtmp_of(self, state: ShowState) -> dict[str, str]:
        return self._configured_rtmp if state.rtmp is None else state.rtmp

    def _recording_of(self, state: ShowState) -> bool:
        return self.show.outputs.recording if state.recording is None else state.recording

    async def _sync_outputs(self, state: ShowState) -> None:
        """Make the RTMP pushes and the recording what ``state`` says (after it is stored)."""
        if self.egress is None:
            return
        wanted = self._rtmp_of(state)
        for egress, delays in self._egresses():
            for name, output in list(egress.rtmp.items()):
                if wanted.get(name) != output.url or self._egress_of(name) is not egress:
                    await egress.remove_rtmp(name)
                    delays.forget(f"rtmp:{name}")
        for name, url in wanted.items():
            target = self._egress_of(name)
            if target is not None and name not in target.rtmp:
                try:
                    target.add_rtmp(name, url, self.rtmp_delays.get(name, 0.0))
                except (KeyError, ValueError) as exc:
                    log.error("show %s: RTMP destination %r not started: %s", self.show.id, name, exc)
        for egress, _ in self._egresses():  # every program is recorded
            await egress.set_recording(self._recording_of(state))

    async def _watch_outputs(self) -> None:
        """Output failures and recoveries go to the audit trail (queued while the store is away)."""
        watches: dict[int, OutputWatch] = {}  # one per program's egress
        while True:
            await asyncio.sleep(POLL_S)
            for egress, _ in self._egresses():
                watch = watches.setdefault(id(egress), OutputWatch())
                for kind, detail in watch.changes(egress, self.hls if egress is self.egress else None):
                    if egress is not self.egress:  # the further program's: say which
                        detail = {**detail, "program": egress.show_id}
                    self.outbox.put_nowait(Event(kind, self.show.id, "system", detail))

    async def _ensure_slate(self) -> None:
        """What a dump puts on the delayed outputs: encoded once, in a thread (~0.2 s of CPU)."""
        if self.delays.slate is None:
            slate = self.program.compositor.compose_slate()
            self.delays.set_slate(await asyncio.to_thread(SlateClip.encode, self.program.fmt, slate))
        for program in self.more_programs.values():  # each program's slate at its own size
            if program.delays.slate is None:
                canvas = program.canvas
                clip = await asyncio.to_thread(SlateClip.encode, canvas.fmt, canvas.compositor.compose_slate())
                program.delays.set_slate(clip)

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
