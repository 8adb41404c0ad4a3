"""A show's further programs (the portrait one beside landscape): started, added and removed live.

The main program is the show's own (its URLs are the show's id and never change shape while
live); a further program (``mixer/canvas.py``) has its own canvas, graphics director,
encoder, outputs (``mixer/outputs/programoutputs.py``) and control-page monitor. Adding one
while live starts all of these from the next tick, on the same timeline; removing one stops
its outputs: FLV readers are closed, and the HLS playlist gets ``#EXT-X-ENDLIST`` after its
last segment and stays served so for :data:`ENDED_HLS_SEGMENTS` segment durations (players
polling it see the stream end, not an error), then 404.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

from aiortc import RTCIceServer

from mixer.graphics.director import GraphicsDirector, GraphicsScene, ProgramGraphics
from mixer.multiview import PROGRAM, Multiview
from mixer.outputs.programoutputs import ProgramOutputs
from mixer.program import Program
from orchestrator.config import Show
from orchestrator.fields import ORIENTATIONS

log = logging.getLogger(__name__)

# The further program's pictures fill it: a landscape camera is cropped to 9:16, not put between bars.
FURTHER_FIT = "crop"
# A removed program's ended playlist is served this many segment durations: a player reloads it
# every target duration (RFC 8216 section 6.3.4), so every polling player sees the ENDLIST.
ENDED_HLS_SEGMENTS = 5


class ShowPrograms:
    def __init__(
        self,
        show: Show,
        program: Program,
        graphics: ProgramGraphics,
        multiview: Callable[[], Multiview],
        data_dir: Path,
        ice_servers: list[RTCIceServer],
        delays_s: Callable[[], dict[str, float]],
    ) -> None:
        """``multiview``: where the programs' monitors go (made after us); ``delays_s``: the broadcast
        delay of ``hls``, ``flv``, ``whep`` now (a new program's outputs get them)."""
        self.show, self.program, self.graphics, self.multiview = show, program, graphics, multiview
        self.data_dir, self.ice_servers, self._delays_s = data_dir, ice_servers, delays_s
        self.outputs: dict[str, ProgramOutputs] = {}  # program id ({show}-portrait) -> its outputs
        self._ended_hls: dict[str, tuple[Path, float]] = {}  # removed program id -> (HLS dir, served until)

    def ended_hls_dir(self, program_id: str) -> Path | None:
        """The HLS directory of a program removed moments ago (its playlist ended), else None."""
        found = self._ended_hls.get(program_id)
        if found is None or time.monotonic() > found[1]:
            self._ended_hls.pop(program_id, None)
            return None
        return found[0]

    @property
    def main(self) -> str:
        return self.program.canvases[0].orientation

    @property
    def orientations(self) -> tuple[str, ...]:
        """The programs running, main first."""
        return tuple(c.orientation for c in self.program.canvases)

    def start(self) -> None:
        """Outputs and monitors of the further programs the show was built with (event loop)."""
        for canvas in self.program.canvases[1:]:
            self._open(canvas.orientation)

    def _open(self, orientation: str) -> ProgramOutputs:
        canvas = self.program.canvas(orientation)
        out = self.show.outputs
        program_id = self.show.program_id(orientation)
        outputs = self.outputs[program_id] = ProgramOutputs(
            program_id,
            canvas,
            asyncio.get_running_loop(),
            self.data_dir,
            hls=out.hls,
            hls_segment_seconds=out.hls_segment_seconds,
            hls_window=out.hls_window,
            flv=out.flv,
            whep=out.whep,
            whep_max_viewers=out.whep_max_viewers,
            rotate_seconds=out.recording_rotate_seconds,
            rtmp_backoff=(out.rtmp_backoff_min, out.rtmp_backoff_max),
            ice_servers=self.ice_servers,
            delays_s=self._delays_s(),
        )
        canvas.encoder.add_sink(self.multiview().add_monitor(f"{PROGRAM}-{orientation}"))
        return outputs

    def add(self, orientation: str, scene: GraphicsScene) -> ProgramOutputs:
        """Start a further program now, drawing ``scene``'s graphics; ValueError if it runs already
        or is not an orientation."""
        if orientation not in ORIENTATIONS:
            raise ValueError(f"{orientation!r} is not one of {', '.join(ORIENTATIONS)}")
        self._ended_hls.pop(self.show.program_id(orientation), None)
        width, height = self.show.canvas(orientation)
        fmt = dataclasses.replace(self.program.fmt, width=width, height=height)
        canvas = self.program.add_program(fmt, orientation, FURTHER_FIT)
        director = GraphicsDirector(canvas.graphics, width, height)
        self.graphics.add(director)
        director.request(scene)
        return self._open(orientation)

    async def remove(self, orientation: str) -> None:
        """Stop a further program and close its outputs; KeyError if it does not run, ValueError for the main one."""
        canvas = self.program.remove_program(orientation)
        program_id = self.show.program_id(orientation)
        outputs = self.outputs.pop(program_id, None)
        director = self.graphics.remove(canvas.graphics)
        self.multiview().remove_monitor(f"{PROGRAM}-{orientation}")
        if outputs is not None:
            if outputs.hls is not None:
                outputs.hls.end_list_on_close = True  # its players see the end, not a stalled live stream
            await outputs.egress.close()
        await asyncio.get_running_loop().run_in_executor(None, canvas.encoder.stop)  # closes HLS and FLV too
        if outputs is not None and outputs.hls is not None:
            until = time.monotonic() + ENDED_HLS_SEGMENTS * self.show.outputs.hls_segment_seconds
            self._ended_hls[program_id] = (outputs.hls_dir, until)
        if director is not None:
            await director.close()

    async def close(self) -> None:
        """The further programs' changeable outputs (their encoders stop with the program)."""
        for outputs in list(self.outputs.values()):
            await outputs.egress.close()
