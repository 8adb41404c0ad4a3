"""The API view of one show: studios, program, graphics, outputs, alarms, monitor (``GET /api/shows/{show}``)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from mixer.multiview import Multiview
from orchestrator import alarms, catalogue, mixerstate
from orchestrator.config import Show
from orchestrator.showalarms import ShowAlarms
from orchestrator.store import StateStore
from rooms.whipsession import WhipOptions

log = logging.getLogger(__name__)


class ShowView(ShowAlarms):
    """What the control page shows, built from the applied state and the media plane's status."""

    def __init__(self, show: Show, store: StateStore, data_dir: Path, whip: WhipOptions | None = None) -> None:
        super().__init__(show, store, data_dir, whip)
        # dict() copies atomically: the multiview thread must not iterate a dict the loop mutates.
        self.multiview = Multiview(
            lambda: {sid: s.feed for sid, s in dict(self.sessions).items()}, cards=self.program.audio_only
        )

    def monitor_view(self) -> dict[str, object]:
        """The program monitor (MJPEG of the encoded output): its rate and how far behind it is.

        ``delay_ms``: measured from the frame's tick to its JPEG, plus half the stream's poll period.
        """
        mv = self.multiview
        delay = mv.program_delay
        return {
            "fps": round(1 / mv.period, 1),
            "width": mv.width,
            "height": mv.height,
            "delay_ms": round(1000 * (delay + mv.period / 2)) if delay is not None else None,
        }

    def mixer_view(self) -> dict[str, object]:
        return mixerstate.mixer_view(self.show, self.state, self.program)

    async def describe(self) -> dict[str, object]:
        state = self.state
        studios = []
        signals = {s.studio: s for s in self.signals()}
        audio_only = self.program.audio_only()
        for studio in self.show.studios:
            session = self.sessions.get(studio.id)
            age = signals[studio.id].frame_age_s
            studios.append(
                {
                    "id": studio.id,
                    "name": studio.name,
                    "name_en": studio.name_en,
                    "place": studio.place,
                    "online": studio.id in self.online,
                    # "ok", "none" (session up, nothing for NO_SIGNAL_AFTER_S) or "offline"
                    "signal": "offline"
                    if session is None
                    else ("ok" if age is not None and age <= alarms.NO_SIGNAL_AFTER_S else "none"),
                    "frame_age_s": round(age, 1) if age is not None else None,
                    "audio_only": studio.id in self.sessions and studio.id in audio_only,
                    "cue": state.cues.get(studio.id),
                    "stats": session.stats() if session else None,
                }
            )
        outputs: dict[str, object] = {}
        if self.hls:
            outputs["hls"] = {"url": f"/live/{self.show.id}/index.m3u8", **self.hls.status()}
        if self.flv:
            outputs["flv"] = {"url": f"/live/{self.show.id}.flv", **self.flv.status()}
        if self.egress is not None:
            outputs.update(self.egress.status())
        if self.webhook is not None:
            outputs["webhook"] = self.webhook.status()
        return {
            "show": self.show.id,
            "title": self.show.title,
            "program": state.program,
            "preview": state.preview,
            "on_air": self.program.on_air,
            "version": state.version,
            "studios": studios,
            **catalogue.graphics_view(self.show, state, time.time()),
            "products": len(self.show.products),
            **self.mixer_view(),
            "mixer": self.program.stats(),
            "outputs": outputs,
            "delays": self.delays.status(),  # per delayed output: delay_s, behind_s (seconds behind live)
            "alarms": self.alarms.view(),
            "monitor": self.monitor_view(),
            "crew": self.crew.status() if self.crew is not None else None,
            "timezone": self.show.timezone,
        }
