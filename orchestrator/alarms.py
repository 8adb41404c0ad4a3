"""Alarms: what must stop the crew until someone has seen it.

A studio losing its signal, the program falling back, an output failing, the
encoder falling behind or the state store (Redis) out of reach each raise an alarm with its cause and the fix at hand.
An alarm stays listed (and the control page beeps) until an operator
acknowledges it, even if its condition has cleared meanwhile: a fallback that
lasted 2 s still needs someone to take the studio back. Raising and
acknowledging are both audit events.

Conditions are level checks run every :data:`CHECK_EVERY_S` (see :func:`conditions`);
one-off happenings (a fallback reported by the program clock) use :meth:`Alarms.raise_now`.
The list lives in the show's runner, so every operator of the show sees the same list
through the show's state view.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass
from typing import Any

from orchestrator.config import Show
from orchestrator.errors import NotFound

CHECK_EVERY_S = 0.25
NO_SIGNAL_AFTER_S = 1.0  # no new video frame for this long: the studio shows NO SIGNAL
BEHIND_RATIO = 0.9  # output fps below this share of the configured rate: the encoder is behind
BEHIND_FOR_S = 2.0  # ... for this long (the meter averages over a few seconds)


@dataclass(frozen=True)
class Condition:
    """Something wrong now; ``id`` names the thing (``kind:subject``) so it is raised once."""

    id: str
    kind: str
    cause: str
    fix: str


@dataclass
class Alarm:
    id: str
    kind: str
    cause: str
    fix: str
    raised_at: float  # unix time
    active: bool = True  # the condition still holds
    cleared_at: float | None = None
    acked_by: str | None = None
    acked_at: float | None = None
    seq: int = 0  # a new number each time this id is raised again

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": f"{self.id}#{self.seq}",
            "kind": self.kind,
            "cause": self.cause,
            "fix": self.fix,
            "raised_at": self.raised_at,
            "active": self.active,
            "cleared_at": self.cleared_at,
            "acked_by": self.acked_by,
            "acked_at": self.acked_at,
        }


class Alarms:
    """The show's alarm list; not thread-safe (event loop only)."""

    def __init__(self) -> None:
        self._alarms: dict[str, Alarm] = {}
        self._seq = 0

    def update(self, found: list[Condition], now: float) -> list[Alarm]:
        """Apply the current level conditions; returns the alarms newly raised."""
        raised = []
        ids = {c.id for c in found}
        for c in found:
            alarm = self._alarms.get(c.id)
            if alarm is None or (alarm.acked_by is not None and not alarm.active):
                raised.append(self._raise(c, now))
            else:
                alarm.active, alarm.cleared_at, alarm.cause, alarm.fix = True, None, c.cause, c.fix
        for alarm in list(self._alarms.values()):
            if alarm.id not in ids and alarm.active and alarm.kind in LEVEL_KINDS:
                alarm.active, alarm.cleared_at = False, now
                if alarm.acked_by is not None:
                    del self._alarms[alarm.id]
        return raised

    def raise_now(self, condition: Condition, now: float) -> Alarm:
        """A one-off happening: listed (not active) until acknowledged."""
        alarm = self._raise(condition, now)
        alarm.active, alarm.cleared_at = False, now
        return alarm

    def _raise(self, c: Condition, now: float) -> Alarm:
        self._seq += 1
        alarm = self._alarms[c.id] = Alarm(c.id, c.kind, c.cause, c.fix, now, seq=self._seq)
        return alarm

    def acknowledge(self, alarm_id: str, actor: str, now: float) -> Alarm:
        """Raises NotFound for an unknown (or already cleared and acknowledged) alarm."""
        alarm = self._alarms.get(alarm_id)
        if alarm is None:
            raise NotFound(f"no alarm {alarm_id!r}")
        if alarm.acked_by is None:
            alarm.acked_by, alarm.acked_at = actor, now
        if not alarm.active:
            del self._alarms[alarm_id]
        return alarm

    def view(self) -> list[dict[str, Any]]:
        """Newest first: ``[{"id", "key", "kind", "cause", "fix", "raised_at", "active", ...}]``."""
        return [a.to_json() for a in sorted(self._alarms.values(), key=lambda a: -a.raised_at)]

    @property
    def unacknowledged(self) -> int:
        return sum(1 for a in self._alarms.values() if a.acked_by is None)


LEVEL_KINDS = frozenset({"studio.no_signal", "output.failed", "encoder.behind", "store.unavailable"})


def clock(show: Show, at: float) -> str:
    """``12:01:05`` in the show's time zone."""
    return datetime.datetime.fromtimestamp(at, zoneinfo.ZoneInfo(show.timezone)).strftime("%H:%M:%S")


def studio_name(show: Show, studio_id: str | None) -> str:
    studio = show.studio(studio_id) if studio_id else None
    return (studio.name_en or studio.name) if studio else str(studio_id or "the slate")


@dataclass(frozen=True)
class Signal:
    """One studio as the alarm check sees it."""

    studio: str
    session: bool  # a WHIP session is open
    frame_age_s: float | None  # seconds since its last video frame; None: none yet
    last_frame_at: float | None  # unix time of the last frame
    seen: bool = True  # has had a session since the server started (a studio never joined is not "lost")


def fallback_condition(show: Show, failed: str, to: str | None, now: float) -> Condition:
    name = studio_name(show, failed)
    where = f"on backup {studio_name(show, to)}" if to else "on the slate"
    fix = f"take {name} back when its host is ready, or cut to another studio"
    cause = f"{name} lost: {where} since {clock(show, now)}"
    return Condition(f"program.fallback:{failed}", "program.fallback", cause, fix)


def store_condition(show: Show, since: float, loaded: bool) -> Condition:
    """The state store (Redis) unreachable since ``since`` (unix time); ``loaded``: this node had
    read the show's state before (False: it started without it, on the slate, and shows nothing of
    the stored program, cards or cues)."""
    cause = f"state store (Redis) unreachable since {clock(show, since)}: commands are refused"
    if not loaded:
        cause += "; this server started without the show's state, on the slate"
    fix = "check Redis (the show's redis_url) and its host; the program goes on, the stored state returns with it"
    return Condition("store.unavailable", "store.unavailable", cause, fix)


def conditions(
    show: Show,
    signals: list[Signal],
    in_use: set[str],
    live: list[str],
    mixer: dict[str, Any],
    outputs: dict[str, Any],
    behind_since: float | None,
    now: float,
) -> list[Condition]:
    """Level conditions from what the show measures now.

    ``in_use``: studios on program or preview; ``live``: studios with a signal (for the fix);
    ``mixer``: :meth:`mixer.program.Program.stats`; ``outputs``: the outputs' status view;
    ``behind_since``: unix time since the output rate has been low (None: it is not).
    """
    found = []
    for s in signals:
        lost = s.session and (s.frame_age_s is None or s.frame_age_s > NO_SIGNAL_AFTER_S)
        gone = not s.session and s.seen and s.studio in in_use
        if not (lost or gone):
            continue
        name = studio_name(show, s.studio)
        since = f" since {clock(show, s.last_frame_at)}" if s.last_frame_at else ""
        what = "no signal" if s.session else "left the show"
        others = [x for x in live if x != s.studio]
        fix = f"cut to {studio_name(show, others[0])}" if others and s.studio in in_use else "call the host"
        if s.session and s.frame_age_s is None:
            continue  # just joined: the first frame is on its way
        found.append(Condition(f"studio.no_signal:{s.studio}", "studio.no_signal", f"{name}: {what}{since}", fix))
    for rtmp in outputs.get("rtmp") or []:
        if rtmp.get("state") not in (None, "live", "connecting") or (rtmp.get("errors") and not rtmp.get("up")):
            err = rtmp.get("last_error") or rtmp.get("state")
            found.append(
                Condition(
                    f"output.failed:rtmp:{rtmp.get('name')}",
                    "output.failed",
                    f"RTMP push {rtmp.get('name')} failing: {err}",
                    "check the destination URL and key; remove and re-add it under Outputs",
                )
            )
    hls = outputs.get("hls")
    if isinstance(hls, dict) and hls.get("errors") and not hls.get("up"):
        found.append(
            Condition(
                "output.failed:hls",
                "output.failed",
                f"HLS failing: {hls.get('last_error')}",
                f"check that the server can write {hls.get('directory')} (disk full? permissions?)",
            )
        )
    if behind_since is not None and now - behind_since >= BEHIND_FOR_S:
        found.append(
            Condition(
                "encoder.behind",
                "encoder.behind",
                f"encoder behind: {mixer.get('output_fps')} of {mixer.get('configured_fps')} fps, "
                f"{mixer.get('encoder_dropped')} frames dropped, {mixer.get('late_ticks')} late ticks",
                "stop a recording or RTMP push, close other work on this machine, or lower the show's resolution",
            )
        )
    return found


def is_behind(mixer: dict[str, Any]) -> bool:
    fps, want = mixer.get("output_fps"), mixer.get("configured_fps")
    if not isinstance(fps, int | float) or not isinstance(want, int | float) or not want:
        return False
    return (mixer.get("uptime_s") or 0) > 3 and fps < BEHIND_RATIO * want
