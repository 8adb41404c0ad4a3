"""Output failures as audit events: an RTMP push, the recording or HLS going down or coming back.

The outputs run in their own threads and only keep a status; this turns changes of that
status into events for the show's outbox (so they are written, in order, even when the
store is away when they happen). Polled from the event loop, once a second.
"""

from __future__ import annotations

from typing import Any

from mixer.outputs.egress import Egress
from mixer.outputs.hlsoutput import HlsOutput

POLL_S = 1.0


class OutputWatch:
    """Remembers each output's last health; :meth:`changes` returns what changed since."""

    def __init__(self) -> None:
        # (kind, name) -> "up" | "down" | "new" (not up yet, no error yet)
        self._health: dict[tuple[str, str], str] = {}

    @staticmethod
    def _outputs(egress: Egress, hls: HlsOutput | None) -> list[tuple[str, str, dict[str, Any]]]:
        found = [("rtmp", name, output.status()) for name, output in list(egress.rtmp.items())]
        if egress.recording is not None:
            found.append(("recording", "recording", egress.recording.status()))
        if hls is not None:
            found.append(("hls", "hls", hls.status()))
        return found

    def changes(self, egress: Egress, hls: HlsOutput | None = None) -> list[tuple[str, dict[str, Any]]]:
        """``[(event kind, detail)]``: ``output.up`` when an output starts working,
        ``output.down`` (with its last error) when it stops or fails before ever working.
        ``hls``: the program's HLS output, when it has one (not part of the egress; it runs from
        the show's start, so only its failures and recoveries are events)."""
        out: list[tuple[str, dict[str, Any]]] = []
        seen = set()
        for kind, name, status in self._outputs(egress, hls):
            key = (kind, name)
            seen.add(key)
            now = "up" if status.get("up") else ("down" if int(status.get("errors") or 0) > 0 else "new")
            before = self._health.get(key, "new")
            self._health[key] = now if now != "new" else before
            if now == before or now == "new":
                continue
            if kind == "hls" and now == "up" and before == "new":  # always on: its start is no news, a recovery is
                continue
            detail: dict[str, Any] = {"output": kind, "name": name}
            if now == "down":
                detail["error"] = status.get("last_error")
            out.append((f"output.{now}", detail))
        for key in set(self._health) - seen:  # removed or stopped on purpose: forget it
            del self._health[key]
        return out
