"""A show's outputs: HLS, HTTP-FLV, webhook, the egress (WHEP, RTMP pushes, recording),
broadcast delays and dumps, and the watch that audits output failures; the further program's
outputs (``showprograms.py``), added and removed live by :meth:`ShowOutputs.set_programs`.

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

from mixer.multiview import Multiview
from mixer.outputs.delays import Delays
from mixer.outputs.egress import Egress
from mixer.outputs.flvoutput import FlvOutput
from mixer.outputs.hlsoutput import HlsOutput
from mixer.outputs.rtmpoutput import NAME_RE, check_rtmp_url, redact
from mixer.outputs.slateclip import SlateClip
from orchestrator import catalogue
from orchestrator.commandpath import CommandPath
from orchestrator.config import Show
from orchestrator.crewmonitor import CrewMonitor
from orchestrator.errors import BadRequest, Conflict, NotFound, Unavailable
from orchestrator.outputwatch import POLL_S, OutputWatch
from orchestrator.showprograms import ShowPrograms
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
        self.programs.start()
        saved_programs = None
        with contextlib.suppress(StoreUnavailable):
            saved_programs = await self.store.get_doc(self.show.id, "programs")
        if isinstance(saved_programs, list) and saved_programs[:1] == [self.programs.main]:
            with contextlib.suppress(ValueError, KeyError):  # a list saved by a command (a live change)
                await self._switch_programs([str(x) for x in saved_programs])
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
        # ... and which program each pushes (a destination added for the portrait program stays on it).
        programs = None
        with contextlib.suppress(StoreUnavailable):
            programs = await self.store.get_doc(self.show.id, "rtmp_programs")
        if isinstance(programs, dict):
            for name, orientation in programs.items():
                if orientation in ("", *self.show.orientations):
                    self._rtmp_programs.setdefault(str(name), str(orientation))
        if any(v > 0 for v in self.rtmp_delays.values()):
            await self._ensure_slate()

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
                for kind, detail in watch.changes(egress):
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

    async def add_rtmp(
        self, name: str, url: str, actor: str, delay_s: float = 0.0, program: str = ""
    ) -> dict[str, Any]:
        """Push the program (``program``: ``landscape``/``portrait``; empty: the main one) to ``url``."""
        egress = self._require_egress()
        running = self.programs.orientations  # not the config's: a program may be off now
        if program and program not in running:
            raise BadRequest(f"{program!r} is not a program of this show ({', '.join(running)})")
        if not NAME_RE.match(name):
            raise BadRequest(f"destination name {name!r} must be lowercase letters, digits, '-' or '_'")
        problem = check_rtmp_url(url)
        if problem is not None:
            raise BadRequest(f"RTMP URL {problem}")
        self.rtmp_delays[name] = delay_s
        self._rtmp_programs[name] = program
        if delay_s > 0:
            await self._ensure_slate()
        try:
            await self.store.put_doc(self.show.id, "rtmp_delays", self.rtmp_delays)
            await self.store.put_doc(self.show.id, "rtmp_programs", self._rtmp_programs)
        except StoreUnavailable as exc:
            log.warning(
                "show %s: RTMP delays/programs not saved (%s): after a restart %s is undelayed, on the main program",
                self.show.id,
                exc,
                name,
            )

        def change(s: ShowState) -> ShowState:
            current = self._rtmp_of(s)
            if name in current:
                raise Conflict(f"destination {name!r} exists; DELETE it first")
            return dataclasses.replace(s, rtmp={**current, name: url})

        def events(old: ShowState, new: ShowState) -> list[Event]:
            return [Event("output.rtmp.added", self.show.id, actor, {"name": name, "url": redact(url)})]

        await self._command(change, events)
        target = self._egress_of(name) or egress
        output = target.rtmp.get(name)  # (gone already if another node removed it meanwhile)
        return (
            output.status()
            if output
            else {"name": name, "kind": "rtmp", "url": redact(url), "state": "removed", "up": False}
        )

    def rtmp_status(self) -> list[dict[str, Any]]:
        """Every RTMP destination with the program it pushes (``program``: its orientation), main
        program's first; one whose program is off now (from the config, or added before the program
        was removed) is ``"state": "waiting for program"`` and starts when that program is added."""
        out = []
        for name, url in self._rtmp_of(self.state).items():
            program = self._rtmp_programs.get(name, "") or self.programs.main
            target = self._egress_of(name)
            output = target.rtmp.get(name) if target is not None else None
            if output is not None:
                out.append({**output.status(), "program": program})
            else:
                state = "waiting for program" if target is None else "not started"
                out.append({"name": name, "kind": "rtmp", "url": redact(url), "state": state, "up": False})
                out[-1]["program"] = program
        out.sort(key=lambda d: d["program"] != self.programs.main)
        return out

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
        for program in self.more_programs.values():  # the same output of every program
            if output in program.delays.lines:
                program.delays.set(output, delay_s)
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
        until = time.time() - origin if origin is not None else None
        dumped = self.delays.dump(until)
        for program_id, program in self.more_programs.items():
            dumped.update({f"{key}@{program_id}": n for key, n in program.delays.dump(until).items()})
        if not dumped:
            raise Conflict("no output of this show is delayed: nothing to dump")
        await self.audit("broadcast.dumped", actor, {"outputs": dumped, "at": time.time()})
        return {"dumped": dumped, "delays": self.delays.status()}

    async def set_programs(self, programs: list[str], actor: str) -> dict[str, Any]:
        """Run these programs from now on (main first; the main one cannot change: its URLs are the
        show's): adds or removes the further one live, with its outputs. Stored, audited."""
        if programs[:1] != [self.programs.main]:
            raise BadRequest(
                f"the main program stays {self.programs.main!r} (its outputs are the show's own URLs):"
                f" give [{self.programs.main!r}] or [{self.programs.main!r}, ...]"
            )
        before = list(self.programs.orientations)
        try:
            await self._switch_programs(programs)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        try:
            await self.store.put_doc(self.show.id, "programs", list(programs))
        except StoreUnavailable as exc:
            log.warning("show %s: programs not saved (%s): a restart goes back to the config", self.show.id, exc)
        await self.audit("programs.changed", actor, {"from": before, "to": list(programs)})
        self.changes.publish(self.state)
        outputs = {pid: p.status() for pid, p in self.more_programs.items()}
        return {"programs": list(self.programs.orientations), "outputs": outputs}

    async def _switch_programs(self, programs: list[str]) -> None:
        if len(set(programs)) != len(programs):
            raise ValueError("each orientation at most once")
        for orientation in self.programs.orientations[1:]:
            if orientation not in programs:
                await self.programs.remove(orientation)
        added = False
        for orientation in programs[1:]:
            if orientation not in self.programs.orientations:
                self.programs.add(orientation, catalogue.graphics_scene(self.show, self.state))
                added = True
        if added:
            if any(v > 0 for v in self.pull_delays.values()):
                await self._ensure_slate()
            await self._sync_outputs(self.state)  # its RTMP destinations and the recording
