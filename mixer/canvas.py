"""One program picture of a show (landscape or portrait): its compositor, graphics and encode.

A show has one scene, one set of studio frames and one audio mix, and one or two programs
(16:9 for the portals, 9:16 for the phone platforms). Each program is a :class:`Canvas`:
its own size, layouts (``mixer/layout.py`` knows portrait), graphics placement
(``mixer/graphics/layout.py``), slate, output buffers and encoder with its own outputs. The
program clock (``mixer/program.py``) draws every canvas on each tick from the same buses and
transition, in its own thread: composing the portrait canvas (crop and scale a 720p camera to
720x1280) cost 1.1-1.6 ms CPU a frame, the landscape one 0.5 (``bench/programs.py --unit``, a loaded
2-core machine), ~5% of a 33 ms tick: not worth a thread and a hand-over of its own. Each canvas's
encoder (~7.5 ms CPU a frame) runs in its own thread.
"""

from __future__ import annotations

import sys

import numpy as np

from mixer.compositor import Compositor
from mixer.encodedpacket import ProgramFormat
from mixer.graphics.overlaystack import OverlayStack
from mixer.planes import packed
from mixer.programencoder import ProgramEncoder
from mixer.transition import Blender

__all__ = ["Canvas"]


class Canvas:
    """Everything one program needs that the other program does not share.

    ``fit`` overrides the scene's fit mode for this canvas (None: the scene's): the portrait
    program of a two-program show crops (``"crop"``), so the host's picture fills the phone
    screen instead of sitting small between bars.
    """

    def __init__(
        self,
        fmt: ProgramFormat,
        orientation: str,
        title: str,
        slate_text: str,
        *,
        fit: str | None = None,
        encoder_threads: int = 2,
        encoder_preset: str = "veryfast",
    ) -> None:
        self.fmt = fmt
        self.orientation = orientation
        self.fit = fit
        self.compositor = Compositor(fmt.width, fmt.height, title, slate_text)
        self.blender = Blender(fmt.width, fmt.height)
        self.encoder = ProgramEncoder(fmt, threads=encoder_threads, preset=encoder_preset)
        self.graphics = OverlayStack()
        # Output pictures rotate through these: the encoder queue holds at most QUEUE of them
        # plus the one it is encoding.
        self._out = [packed(fmt.width, fmt.height) for _ in range(ProgramEncoder.QUEUE + 4)]
        self._out_next = 0
        self.panicked = False  # panic as of the last tick (a change is a timed metadata cue)

    @property
    def width(self) -> int:
        return self.fmt.width

    @property
    def height(self) -> int:
        return self.fmt.height

    def buffer(self) -> np.ndarray:
        """The next output picture buffer that nothing else (the encoder queue) still holds."""
        for _ in range(len(self._out)):
            i = self._out_next
            self._out_next = (i + 1) % len(self._out)
            # Two references: the list and getrefcount's argument. More: still queued.
            if sys.getrefcount(self._out[i]) <= 2:
                return self._out[i]
        fresh = self._out[i] = packed(self.fmt.width, self.fmt.height)  # encoder far behind
        return fresh

    def stats(self) -> dict[str, object]:
        encoder = self.encoder
        return {
            "orientation": self.orientation,
            "width": self.fmt.width,
            "height": self.fmt.height,
            "output_fps": round(encoder.meter.rates()[1], 2),
            "encoded_frames": encoder.frames_encoded,
            "encoder_dropped": encoder.frames_dropped,
            "encoder_queue": encoder.queued,
            "encode_ms_avg": round(1000 * encoder.encode_seconds / encoder.frames_encoded, 3)
            if encoder.frames_encoded
            else None,
        }
