"""The command that adds or removes a show's further program live (the portrait one beside
landscape), and the list of programs stored while live (the store's ``programs`` document,
honoured at the next start).

The programs and their outputs themselves: ``showprograms.py``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from orchestrator import catalogue
from orchestrator.errors import BadRequest
from orchestrator.showoutputs import ShowOutputs
from orchestrator.store import StoreUnavailable

log = logging.getLogger(__name__)


class ProgramCommands(ShowOutputs):
    """:meth:`set_programs`, and the stored list of programs restored at start."""

    async def _start_outputs(self) -> None:
        await super()._start_outputs()
        saved_programs = None
        with contextlib.suppress(StoreUnavailable):
            saved_programs = await self.store.get_doc(self.show.id, "programs")
        if isinstance(saved_programs, list) and saved_programs[:1] == [self.programs.main]:
            with contextlib.suppress(ValueError, KeyError):  # a list saved by a command (a live change)
                await self._switch_programs([str(x) for x in saved_programs])

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
