"""What the crew hears and sees at the control page: the program monitor and solo (PFL).

- **Program monitor**: a WHEP output of its own for operators, fed the program's
  one encode *before* any broadcast delay (the crew watches what goes out now, not
  what viewers get 30 s later), whose viewers are told which tick they show
  (:class:`rooms.monitorsession.MonitorSession`) so the page can measure its
  glass-to-glass delay.  No encode of its own: the program's packets, and the one
  Opus encode the WHEP outputs share.  It never asks the encoder for a keyframe (a new
  monitor waits for the next of the 1 s GOP), so the CDN's stream is the same with or
  without operators watching.
- **Solo**: one studio's decoded audio, before gain and mute, to one operator's
  peer connection (an audio-only WHEP-style viewer).  One Opus encode per soloed
  studio (:class:`mixer.solo.SoloEncode`, own thread), shared by all its
  listeners, started with the first and stopped with the last.

Every stream closes when its page closes (DELETE, or the peer connection fails or
closes; a viewer that never connects is dropped after 20 s).  Counted in the show
view (``crew``) and in ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Iterable

from aiortc import RTCIceServer

from mixer.audiomixer import AudioMixer
from mixer.encodedpacket import EncodedPacket
from mixer.outputs.whepoutput import WhepFull, WhepOutput, WhepViewer
from mixer.programencoder import ProgramEncoder
from mixer.solo import SoloEncode
from rooms.monitorsession import MonitorSession
from rooms.sdp import OfferError
from rooms.whepsession import WhepSession, answer_viewer, check_offer

log = logging.getLogger(__name__)

MAX_MONITORS = 20  # program monitors per show (operators' pages)
MAX_SOLO_LISTENERS = 20  # solo streams per show, all studios together


class CrewMonitor:
    def __init__(
        self,
        show_id: str,
        loop: asyncio.AbstractEventLoop,
        encoder: ProgramEncoder,
        audio: AudioMixer,
        studios: Callable[[], Iterable[str]],
        *,
        ice_servers: list[RTCIceServer] | None = None,
    ) -> None:
        self.show_id = show_id
        self.loop = loop
        self.audio = audio
        self._studios = studios
        self.ice_servers = list(ice_servers or [])
        self.encoder = encoder
        # A monitor never forces a keyframe: it waits for the next regular one (at most 1 s, the
        # GOP), so an operator opening or reloading the page never changes what the CDN gets.
        self.monitor = WhepOutput(loop, show_id, lambda: None, max_viewers=MAX_MONITORS, ice_servers=self.ice_servers)
        encoder.add_sink(self.monitor)  # not behind the broadcast delay: the crew sees what goes out now
        self._encodes: dict[str, SoloEncode] = {}
        self._listeners: dict[str, tuple[str, WhepSession]] = {}  # id -> (studio, viewer)
        self._pending = 0
        self._closed = False
        self.solos_total = 0
        self.solo_refused = 0

    # --- program monitor ------------------------------------------------------------

    async def add_monitor(self, offer_sdp: str) -> WhepSession:
        """Raises :class:`OfferError` (400) or :class:`WhepFull` (503)."""
        session = functools.partial(MonitorSession, program_format=lambda: self.monitor.program_format)
        return await answer_viewer(self.monitor, offer_sdp, session)

    def monitor_viewer(self, viewer_id: str) -> WhepViewer | None:
        return self.monitor.viewer(viewer_id)

    # --- solo -------------------------------------------------------------------------

    async def add_solo(self, studio_id: str, offer_sdp: str) -> WhepSession:
        """One operator's solo of ``studio_id``; raises KeyError (no such studio), OfferError, WhepFull."""
        if studio_id not in set(self._studios()):
            raise KeyError(studio_id)
        if self._closed:
            raise WhepFull("this show is stopping")
        if len(self._listeners) + self._pending >= MAX_SOLO_LISTENERS:
            self.solo_refused += 1
            raise WhepFull(f"solo limit reached ({MAX_SOLO_LISTENERS} streams)")
        try:
            check_offer(offer_sdp)
        except OfferError:
            self.solo_refused += 1
            raise
        viewer = WhepSession(
            self.show_id,
            lambda: None,  # no video: nothing to key
            self._solo_closed,
            video_queue=2,
            audio_queue=25,  # 0.5 s of 20 ms packets
            codec=None,
            ice_servers=self.ice_servers,
        )
        self._pending += 1
        try:
            await viewer.accept(offer_sdp, self.monitor.profile_level_id)
        except OfferError:
            self.solo_refused += 1
            raise
        finally:
            self._pending -= 1
        if self._closed:
            await viewer.close()
            raise WhepFull("this show is stopping")
        self._listeners[viewer.id] = (studio_id, viewer)
        self.solos_total += 1
        self._taps_changed()
        return viewer

    def solo_viewer(self, studio_id: str, viewer_id: str) -> WhepSession | None:
        entry = self._listeners.get(viewer_id)
        return entry[1] if entry is not None and entry[0] == studio_id else None

    async def _solo_closed(self, viewer: WhepSession) -> None:
        if self._listeners.pop(viewer.id, None) is not None:
            self._taps_changed()

    def _deliver(self, studio_id: str, packet: EncodedPacket) -> None:
        """Worker thread: hand a solo packet to the loop."""
        with contextlib.suppress(RuntimeError):  # loop closed: the server is going down
            self.loop.call_soon_threadsafe(self._fan_out, studio_id, packet)

    def _fan_out(self, studio_id: str, packet: EncodedPacket) -> None:
        for studio, viewer in list(self._listeners.values()):
            if studio == studio_id:
                viewer.push(packet, True)

    def _taps_changed(self) -> None:
        """Start the encodes of newly soloed studios, stop those nobody listens to, retap the mixer."""
        wanted = {studio for studio, _ in self._listeners.values()}
        stale = [self._encodes.pop(s) for s in list(self._encodes) if s not in wanted]
        for studio in wanted - set(self._encodes):
            encode = SoloEncode(studio, self.audio.sample_rate, functools.partial(self._deliver, studio))
            encode.start()
            self._encodes[studio] = encode
            log.info("solo %s/%s: encode started", self.show_id, studio)
        self.audio.set_taps({studio: encode.put for studio, encode in self._encodes.items()})
        for encode in stale:
            # The join is short (the worker wakes at once) but not on the loop.
            self.loop.run_in_executor(None, encode.stop)
            log.info("solo %s/%s: encode stopped (nobody listens)", self.show_id, encode.studio_id)

    # --- all ----------------------------------------------------------------------------

    async def close(self) -> None:
        self._closed = True
        for _, viewer in list(self._listeners.values()):
            await viewer.close()
        self.audio.set_taps({})
        for encode in list(self._encodes.values()):
            await asyncio.get_running_loop().run_in_executor(None, encode.stop)
        self._encodes.clear()
        self.encoder.remove_sink(self.monitor)
        await self.monitor.aclose()

    def status(self) -> dict[str, object]:
        listeners = list(self._listeners.values())
        return {
            "monitors": len(self.monitor.viewers()),
            "monitors_total": self.monitor.viewers_total,
            "monitor_list": [v.stats() for v in self.monitor.viewers()],
            "solo_streams": len(listeners),
            "solos_total": self.solos_total,
            "solo_refused": self.solo_refused,
            "solo_encodes": [
                e.status() | {"listeners": sum(1 for s, _ in listeners if s == e.studio_id)}
                for e in self._encodes.values()
            ],
        }
