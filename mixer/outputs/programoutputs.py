"""The outputs of a show's further program (the portrait one of a landscape show, or the reverse).

The main program's outputs are the show's own (``/live/{show}/...``, ``/whep/{show}``); each
further program has the same set under its program id, ``{show}-{orientation}``:
HLS in ``live/{show}-portrait/``, HTTP-FLV at ``/live/{show}-portrait.flv``, WHEP at
``/whep/{show}-portrait``, its RTMP destinations (config ``program = "portrait"``) and its
recording. They take the packets of that program's one encoder (``mixer/canvas.py``), behind
delay lines of their own (same delays as the main program's outputs, a slate of their size).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from aiortc import RTCIceServer

from mixer.canvas import Canvas
from mixer.outputs.delays import Delays
from mixer.outputs.egress import Egress
from mixer.outputs.flvoutput import FlvOutput
from mixer.outputs.hlsoutput import HlsOutput

__all__ = ["ProgramOutputs"]


class ProgramOutputs:
    """HLS, HTTP-FLV, WHEP, RTMP and recording of one further program; same attribute names as the
    show runner's own (``hls``, ``hls_dir``, ``flv``, ``egress``), so the HTTP views serve either."""

    def __init__(
        self,
        program_id: str,
        canvas: Canvas,
        loop: asyncio.AbstractEventLoop,
        data_dir: Path,
        *,
        hls: bool,
        hls_segment_seconds: float,
        hls_window: int,
        flv: bool,
        whep: bool,
        whep_max_viewers: int,
        rotate_seconds: float,
        rtmp_backoff: tuple[float, float],
        ice_servers: list[RTCIceServer],
        delays_s: Mapping[str, float],
    ) -> None:
        """``delays_s``: broadcast delay of ``hls``, ``flv`` and ``whep`` (seconds, 0-60)."""
        self.program_id = program_id
        self.canvas = canvas
        encoder = canvas.encoder
        self.delays = Delays(encoder.request_keyframe)
        self.hls_dir = data_dir / "live" / program_id
        self.hls: HlsOutput | None = None
        self.flv: FlvOutput | None = None
        if hls:
            self.hls = HlsOutput(self.hls_dir, segment_seconds=hls_segment_seconds, window=hls_window)
            encoder.add_sink(self.delays.wrap(self.hls, delays_s.get("hls", 0.0)))
        if flv:
            self.flv = FlvOutput(loop)
            encoder.add_sink(self.delays.wrap(self.flv, delays_s.get("flv", 0.0)))
        self.egress = Egress(
            program_id,
            encoder,
            loop,
            whep=whep,
            whep_max_viewers=whep_max_viewers,
            recordings_dir=data_dir / "recordings" / program_id,
            rotate_seconds=rotate_seconds,
            rtmp_backoff=rtmp_backoff,
            ice_servers=ice_servers,
            delay=self.delays.wrap,
            whep_delay_s=delays_s.get("whep", 0.0),
        )

    @property
    def orientation(self) -> str:
        return self.canvas.orientation

    def status(self) -> dict[str, object]:
        """Its outputs as the show view lists them (``outputs`` of ``GET /api/shows/{show}``)."""
        out: dict[str, object] = {
            "orientation": self.orientation,
            "width": self.canvas.width,
            "height": self.canvas.height,
        }
        if self.hls is not None:
            out["hls"] = {"url": f"/live/{self.program_id}/index.m3u8", **self.hls.status()}
        if self.flv is not None:
            out["flv"] = {"url": f"/live/{self.program_id}.flv", **self.flv.status()}
        out.update(self.egress.status())
        out["delays"] = self.delays.status()
        return out
