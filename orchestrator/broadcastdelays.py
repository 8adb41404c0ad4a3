"""A show's broadcast delays (延播) while live: change one output's delay, or dump what every
delayed output holds, not yet aired, for the slate (mixer/outputs/delayline.py).

Delays set while live are kept in the store's ``delays`` (HLS, FLV, WHEP, webhook) and
``rtmp_delays`` (per RTMP destination) documents: a delayed output must not come back
undelayed after a restart.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from orchestrator.errors import BadRequest, Conflict, NotFound
from orchestrator.showoutputs import ShowOutputs
from orchestrator.store import StoreUnavailable

log = logging.getLogger(__name__)


class BroadcastDelays(ShowOutputs):
    """The delay and dump commands, and the delays stored while live."""

    async def _start_outputs(self) -> None:
        # Read before the outputs start: each is wrapped in its delay line as it starts.
        saved_delays = None
        with contextlib.suppress(StoreUnavailable):
            saved_delays = await self.store.get_doc(self.show.id, "delays")
        if isinstance(saved_delays, dict):
            self.pull_delays.update(
                {k: float(v) for k, v in saved_delays.items() if k in self.pull_delays and isinstance(v, int | float)}
            )
        await super()._start_outputs()

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
