"""The program's fallback: what goes on air when its studio stops, and whether it comes back.

Decided on the program clock's thread, once per tick, from which studios are
live. A studio is judged as a studio, never as a WHIP session: a studio that
replaces its session (an encoder restart, a page reload) keeps its place, its
last good frame and this watch, so a new session that delivers within
``fallback_after`` never makes the program fall back.

When the program's main studio has been live on air and then sends nothing for
``stale_after`` seconds, the program shows the backup studio (if live) or the
slate and reports ``program.fallback``. What happens next is the show's
``fallback_policy``:

- ``"manual"``: latched. The program stays on the backup or the slate until the
  crew cuts; the control plane records the fallback as the new program.
- ``"auto"``: the stored program is left alone and the clock returns to the
  studio by itself once it has delivered steadily (no gap over
  :data:`STEADY_GAP` seconds) for ``return_after`` seconds, and reports
  ``program.returned``. Against flapping, the steady time needed doubles for
  each return of the same studio within the last :data:`FLAP_WINDOW` seconds,
  capped at :data:`MAX_RETURN_AFTER`.

The default is ``"auto"`` (:data:`DEFAULT_POLICY`). A show has many district
studios on 4G and hotel Wi-Fi and a crew busy with cards and prices: a latched
fallback turns a 10 s network hiccup into minutes on the slate, until someone
notices and cuts back (issue 9, observation 1). The risk latching guards
against, a host flapping between picture and slate, is bounded here by the
steady requirement and its back-off: a studio that keeps failing comes back at
most after 2, 4, 8, ... s of steady delivery. Crews that want every return to
be a human decision set ``"manual"``.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mixer.scene import SLATE, Bus, Scene

POLICIES = ("auto", "manual")
DEFAULT_POLICY = "auto"
DEFAULT_RETURN_AFTER = 2.0  # seconds of steady delivery before an auto return (bench goal: back within 3 s)
STEADY_GAP = 0.5  # seconds: a longer gap between frames restarts the steady count
FLAP_WINDOW = 60.0  # seconds: returns this recent double the steady time needed
MAX_RETURN_AFTER = 30.0

Report = Callable[[str, dict[str, Any]], None]


@dataclass
class _Watch:
    """The program's main studio under one take: was it live, has it fallen, is it steady again."""

    take_seq: int
    main: str
    was_live: bool = False
    fallen_at: float | None = None  # monotonic time of the fallback
    policy: str = DEFAULT_POLICY  # the show's policy when it fell
    need: float = 0.0  # steady seconds needed before an auto return
    steady_since: float | None = None


class Fallback:
    """Chooses the bus to put on air: the program bus, or its backup or the slate."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._watch: _Watch | None = None
        self._returns: dict[str, collections.deque[float]] = {}  # studio -> monotonic times of auto returns
        # The API's view (None while the program's main studio is on air); replaced whole.
        self.view: dict[str, Any] | None = None

    def target(self, scene: Scene, live: set[str], steady: set[str], now: float) -> Bus:
        """The bus that should be on air now.

        ``live``: studios that delivered within ``scene.stale_after``; ``steady``: within
        :data:`STEADY_GAP` (a subset). ``now``: monotonic seconds.
        """
        if scene.panic:
            return SLATE
        bus = scene.program_bus()
        main = bus.main
        if main is None:
            self.view = None
            return SLATE
        w = self._watch
        if w is None or (w.take_seq, w.main) != (scene.take_seq, main):
            w = self._watch = _Watch(scene.take_seq, main)
        backup = scene.backup if scene.backup and scene.backup != main and scene.backup in live else None
        if w.fallen_at is None:
            if main in live:
                w.was_live = True
                self.view = None
                return bus
            if w.was_live:
                self._fall(w, scene, backup, now)
        elif scene.fallback_policy == "manual" and w.policy == "auto":
            w.policy = "manual"  # the crew switched to manual during an auto fallback: no return by itself
        elif w.policy == "auto" and self._steady_long_enough(w, main in steady, now):
            self._return(w, backup, now)
            self.view = None
            return bus
        self.view = self._describe(w, backup, now)
        return Bus("single", (backup,)) if backup else SLATE

    def _fall(self, w: _Watch, scene: Scene, backup: str | None, now: float) -> None:
        w.fallen_at, w.policy, w.steady_since = now, scene.fallback_policy, None
        detail: dict[str, Any] = {"from": w.main, "to": backup, "policy": w.policy}
        if w.policy == "auto":
            w.need = self.required(w.main, scene.return_after, now)
            detail["returns_after_s"] = w.need
        self._report("program.fallback", detail)

    def required(self, studio: str, base: float, now: float) -> float:
        """Steady seconds needed before ``studio`` returns: ``base`` doubled per recent return."""
        recent = self._returns.get(studio)
        while recent and now - recent[0] > FLAP_WINDOW:
            recent.popleft()
        return min(MAX_RETURN_AFTER, base * 2 ** len(recent or ()))

    def _steady_long_enough(self, w: _Watch, steady: bool, now: float) -> bool:
        if not steady:
            w.steady_since = None
            return False
        if w.steady_since is None:
            w.steady_since = now
        return now - w.steady_since >= w.need

    def _return(self, w: _Watch, backup: str | None, now: float) -> None:
        assert w.fallen_at is not None
        self._returns.setdefault(w.main, collections.deque()).append(now)
        self._report(
            "program.returned",
            {
                "studio": w.main,
                "from": backup,
                "reason": f"steady for {w.need:g} s",
                "outage_s": round(now - w.fallen_at, 1),
            },
        )
        w.fallen_at, w.steady_since, w.was_live = None, None, True

    def _describe(self, w: _Watch, backup: str | None, now: float) -> dict[str, Any]:
        view: dict[str, Any] = {"from": w.main, "to": backup, "latched": False}
        if w.fallen_at is None:
            return view  # not sending yet (a cut to a studio that has not delivered): no policy applies
        view["policy"] = w.policy
        if w.policy == "manual":
            view["latched"] = True
        else:
            view["returns_after_s"] = w.need
            view["steady_s"] = round(now - w.steady_since, 1) if w.steady_since is not None else 0.0
        return view
