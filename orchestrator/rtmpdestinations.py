"""A show's RTMP destinations: added and removed live, each pushing one program with its own
broadcast delay.

The list of destinations is part of the stored state (``ShowState.rtmp``; the pushes follow it,
:meth:`ShowOutputs._sync_outputs`). Each destination's delay and program are kept beside it in
the store's ``rtmp_delays`` / ``rtmp_programs`` documents, so a delayed push stays delayed and a
portrait push stays on the portrait program after a restart. A list saved by an older version
in the ``rtmp`` document is still honoured until the crew changes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import Any

from mixer.outputs.rtmpoutput import NAME_RE, check_rtmp_url, redact
from orchestrator.errors import BadRequest, Conflict, NotFound
from orchestrator.showoutputs import ShowOutputs
from orchestrator.store import Event, ShowState, StoreUnavailable

log = logging.getLogger(__name__)


class RtmpDestinations(ShowOutputs):
    """The commands that add and remove RTMP destinations, their status, and their stored settings."""

    async def _start_egress(self) -> None:
        await super()._start_egress()
        await self._load_rtmp()
        if any(v > 0 for v in self.rtmp_delays.values()):
            await self._ensure_slate()

    async def _load_rtmp(self) -> None:
        """Read the destinations' stored settings (a store that is away: the config's)."""
        # Before the destinations were part of the state, API-set ones were kept in an "rtmp" document.
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
        """Stop pushing to ``name`` (every node: through the stored state); NotFound if there is none."""
        self._require_egress()

        def change(s: ShowState) -> ShowState:
            current = self._rtmp_of(s)
            if name not in current:
                raise NotFound(f"no RTMP destination {name!r}")
            return dataclasses.replace(s, rtmp={k: v for k, v in current.items() if k != name})

        def events(old: ShowState, new: ShowState) -> list[Event]:
            return [Event("output.rtmp.removed", self.show.id, actor, {"name": name})]

        await self._command(change, events)
