"""The outputs a show changes while live: WHEP viewers, RTMP destinations, the recording.

HLS and HTTP-FLV are fixed for the life of a show (the show runner makes
them); these come and go through the control API, each one a :class:`Sink`
added to or removed from the show's one encoder.  Closing a sink that owns a
thread can take a moment (a final fragment, a TCP close), so it happens in an
executor, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from aiortc import RTCIceServer

from mixer.outputs.recordingoutput import RecordingOutput
from mixer.outputs.rtmpoutput import NAME_RE, RtmpOutput
from mixer.outputs.sink import Sink
from mixer.outputs.whepoutput import WhepOutput
from mixer.programencoder import ProgramEncoder

log = logging.getLogger(__name__)


class Egress:
    def __init__(
        self,
        show_id: str,
        encoder: ProgramEncoder,
        loop: asyncio.AbstractEventLoop,
        *,
        whep: bool = True,
        whep_max_viewers: int = 500,
        recordings_dir: Path,
        rotate_seconds: float = 600.0,
        rtmp_backoff: tuple[float, float] = (1.0, 30.0),
        ice_servers: list[RTCIceServer] | None = None,
        delay: Callable[[Sink, float, str], Sink] | None = None,
        whep_delay_s: float = 0.0,
    ) -> None:
        self.show_id = show_id
        self.encoder = encoder
        self.loop = loop
        self.recordings_dir = recordings_dir
        self.rotate_seconds = rotate_seconds
        self.rtmp_backoff = rtmp_backoff
        # Puts an output behind a broadcast delay (mixer/outputs/delays.py); what was added, by name.
        self._delay = delay or (lambda sink, _seconds, _key: sink)
        self._added: dict[str, Sink] = {}
        self.whep: WhepOutput | None = None
        if whep:
            self.whep = WhepOutput(
                loop, show_id, encoder.request_keyframe, max_viewers=whep_max_viewers, ice_servers=ice_servers
            )
            self._added["whep"] = self._delay(self.whep, whep_delay_s, "whep")
            encoder.add_sink(self._added["whep"])
        self.rtmp: dict[str, RtmpOutput] = {}
        self.recording: RecordingOutput | None = None
        self._last_recording: RecordingOutput | None = None  # its files stay listed after a stop
        self._lock = asyncio.Lock()

    # --- RTMP -------------------------------------------------------------------

    def add_rtmp(self, name: str, url: str, delay_s: float = 0.0) -> RtmpOutput:
        """Start pushing to a destination; ValueError for a bad name/URL/delay, KeyError if the name is taken."""
        if not NAME_RE.match(name):
            raise ValueError(f"destination name {name!r} must be lowercase letters, digits, '-' or '_'")
        if name in self.rtmp:
            raise KeyError(name)
        low, high = self.rtmp_backoff
        output = RtmpOutput(name, url, backoff_min=low, backoff_max=high)
        added = self._delay(output, delay_s, f"rtmp:{name}")
        self.rtmp[name] = output
        self._added[f"rtmp:{name}"] = added
        self.encoder.add_sink(added)
        return output

    async def remove_rtmp(self, name: str) -> bool:
        output = self.rtmp.pop(name, None)
        if output is None:
            return False
        self.encoder.remove_sink(self._added.pop(f"rtmp:{name}", output))
        await self.loop.run_in_executor(None, output.close)
        return True

    # --- recording ------------------------------------------------------------------

    async def set_recording(self, on: bool) -> RecordingOutput | None:
        """Start or stop the recording (idempotent); returns the active recording, if any."""
        async with self._lock:
            if on and self.recording is None:
                recording = RecordingOutput(self.recordings_dir, self.show_id, self.rotate_seconds)
                self.recording = self._last_recording = recording
                self.encoder.add_sink(recording)
            elif not on and self.recording is not None:
                recording, self.recording = self.recording, None
                self.encoder.remove_sink(recording)
                await self.loop.run_in_executor(None, recording.close)
            return self.recording

    # --- all --------------------------------------------------------------------------

    async def close(self) -> None:
        if self.whep is not None:
            self.encoder.remove_sink(self._added.pop("whep", self.whep))
            await self.whep.aclose()
        for name in list(self.rtmp):
            await self.remove_rtmp(name)
        await self.set_recording(False)

    def recording_status(self) -> dict[str, object]:
        recording = self.recording or self._last_recording
        if recording is None:
            return {"name": "recording", "kind": "recording", "state": "off", "up": False, "files": []}
        status = recording.status()
        if self.recording is None:
            status["state"] = "off"
        return status

    def status(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.whep is not None:
            out["whep"] = {
                "url": f"/whep/{self.show_id}",
                **self.whep.status(),
                "forced_keyframes": self.encoder.forced_keyframes,
                "opus_packets": self.encoder.opus_packets,
            }
        out["rtmp"] = [o.status() for o in self.rtmp.values()]
        out["recording"] = self.recording_status()
        return out
