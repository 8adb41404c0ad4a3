"""How long the program is off its studio: after an outage (policy auto), and when a studio
replaces its session (encoder restart, page reload).

One in-process server and one aiortc publisher (640x360 colour and a tone) on loopback.

- outage: the publisher's media stops for ``--outage`` seconds (the source keeps its pace and
  its frames are dropped before the encoder, so the same session resumes without loss; what a
  network outage adds on top is the receiver's keyframe request). Measured: seconds from the
  media resuming to the program showing the studio again (``on_air``, polled every 50 ms).
- restart: the publisher stops sending without a DELETE and the same join link POSTs a new
  session ``--gap`` seconds later; page reload: DELETE first, then the new POST. Measured:
  seconds off air (``on_air`` not the studio) and whether ``program.fallback`` was logged.

    unshare -n sh -c 'ip link set lo up; .venv/bin/python bench/fallback_return.py'
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from orchestrator.app import create_app  # noqa: E402
from tests.conftest import Server, make_config  # noqa: E402
from tests.mixer.test_fallback_e2e import Outage  # noqa: E402
from tests.ports import free_port  # noqa: E402
from tests.whipclient import ColourTrack, ToneTrack, TrackPublisher  # noqa: E402

API = "/api/shows/test-show"


class OnAir:
    """Polls the show every 50 ms and keeps (monotonic time, on_air)."""

    def __init__(self, server: Server) -> None:
        self.server, self.samples = server, []  # type: ignore[var-annotated]
        self.sessions: list[tuple[float, str | None, int]] = []  # (time, alpha's session, its video frames)
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            _, state = await self.server.api("GET", API)
            now = time.monotonic()
            self.samples.append((now, state["on_air"]))
            stats = next(s["stats"] for s in state["studios"] if s["id"] == "alpha") or {}
            self.sessions.append((now, stats.get("session"), stats.get("video_frames", 0)))
            await asyncio.sleep(0.05)

    def first_new_frame(self, since: float) -> float:
        """When (by samples) a session other than the one at ``since`` had delivered video."""
        old = next((s for t, s, _ in reversed(self.sessions) if t <= since), None)
        return next(t for t, s, n in self.sessions if t > since and s not in (None, old) and n > 0)

    async def until(self, studio: str | None, timeout: float = 30) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.samples and self.samples[-1][1] == studio:
                return self.samples[-1][0]
            await asyncio.sleep(0.02)
        raise TimeoutError(f"on_air never became {studio!r}")

    def off_air(self, studio: str, since: float) -> float:
        """Seconds (by samples) the program did not show ``studio`` after ``since``."""
        rows = [(t, s) for t, s in self.samples if t >= since]
        return sum(b[0] - a[0] for a, b in zip(rows, rows[1:], strict=False) if a[1] != studio)

    def stop(self) -> None:
        self._task.cancel()


async def events(server: Server) -> list[str]:
    _, body = await server.api("GET", f"{API}/events")
    return [e["kind"] for e in body["events"]]


async def alpha_on_air(server: Server, on_air: OnAir, publisher: TrackPublisher) -> None:
    """Start ``publisher`` (studio alpha), cut to it, and let it run on air for 2 s."""
    await publisher.start()
    await server.api("POST", f"{API}/cut", json={"studio": "alpha"})
    await on_air.until("alpha")
    await asyncio.sleep(2)


def red_with_outages(server: Server) -> tuple[list[Outage], TrackPublisher]:
    """Studio alpha's red picture and 440 Hz tone, each of which can be taken down."""
    tracks = [Outage(ColourTrack("red")), Outage(ToneTrack(440))]
    return tracks, TrackPublisher(server.url, "test-show", "alpha", server.token("alpha"), *tracks)


async def outage(server: Server, seconds: float) -> float:
    tracks, pub = red_with_outages(server)
    on_air = OnAir(server)
    try:
        await alpha_on_air(server, on_air, pub)
        for track in tracks:
            track.down = True
        await on_air.until(None)
        await asyncio.sleep(seconds)
        resumed = time.monotonic()
        for track in tracks:
            track.down = False
        return await on_air.until("alpha") - resumed
    finally:
        on_air.stop()
        await pub.stop()


async def replace(server: Server, gap: float, reload: bool) -> dict[str, Any]:
    """One replacement; returns the media gap (old media stops to first new frame), time off air, events."""
    tracks, old = red_with_outages(server)
    new = TrackPublisher(server.url, "test-show", "alpha", server.token("alpha"), ColourTrack("blue"), ToneTrack(660))
    on_air = OnAir(server)
    try:
        await alpha_on_air(server, on_air, old)
        before = len(await events(server))
        start = time.monotonic()
        if reload:
            await old.stop()
        else:
            for track in tracks:
                track.down = True
        await asyncio.sleep(gap)
        await new.start()
        await asyncio.sleep(3)
        return {
            # From the old session's media stopping (the outage or the DELETE) to the new session's
            # first video frame counted by the server (polled every 50 ms).
            "gap": on_air.first_new_frame(start) - start,
            "off_air": on_air.off_air("alpha", start),
            "events": [k for k in (await events(server))[before:] if k.startswith("program.")],
        }
    finally:
        on_air.stop()
        await old.stop()
        await new.stop()
        await asyncio.sleep(2)  # the studio left the program: let its fallback pass before the next run


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = make_config(
            Path(tmp), fallback_policy="auto", fallback_after=args.fallback_after, fallback_return_after=2.0
        )
        runner = web.AppRunner(create_app(config))
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        server = Server(f"http://127.0.0.1:{port}", config)
        try:
            results: dict[str, Any] = {"outage": [], "restart": [], "reload": []}
            for i in range(args.runs if args.outage else 0):
                if i:
                    await asyncio.sleep(61)  # past the flap window: every run starts from the base steady time
                results["outage"].append(await outage(server, args.outage))
            for _ in range(args.runs):
                results["restart"].append(await replace(server, args.gap, reload=False))
                results["reload"].append(await replace(server, args.gap, reload=True))
        finally:
            await runner.cleanup()
    rec = results["outage"]
    if rec:
        print(f"outage {args.outage:g} s, policy auto (return after 2 s steady): back on air after", end=" ")
        print(f"median {statistics.median(rec):.2f} s, max {max(rec):.2f} s  {[round(x, 2) for x in rec]}")
    for kind in ("restart", "reload"):
        setting = f"gap {args.gap:g} s, fallback_after {args.fallback_after:g} s"
        print(f"{kind} ({setting}):")
        for run in results[kind]:
            print(f"  media gap {run['gap']:.2f} s, off air {run['off_air']:.2f} s, events {run['events']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outage", type=float, default=10.0)
    parser.add_argument("--gap", type=float, default=0.3)
    parser.add_argument("--fallback-after", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
