"""The on-air studio on a bad network: packet loss with jitter, and an outage (issue 9).

One server (in this process: the impairment sits on its ICE sockets), one show,
one aiortc WHIP studio drawing a moving, numbered picture (tests/whipclient.py),
cut to program. After a clean warm-up the studio's network is impaired both ways
with seeded loss and jitter (tests/netimpair.py), then measured:

* studio fps: decoded frames handed to the mixer, per 1 s window (median, p5);
* freezes: gaps between decoded frames over 200 ms and over 500 ms, the longest;
* broken pictures: sampled decoded frames compared with the picture their number names;
* time the program was not showing the studio (fallback);
* loss the server measured, NACKs, PLIs/FIRs, keyframes;
* PDT drift: HLS ``EXT-X-PROGRAM-DATE-TIME`` of the newest segment's end minus the wall
  clock when the playlist was read, over the run (its spread is the drift).

The outage scenario: jitter only, then nothing gets through either way for
``--outage`` seconds; recovery = network back -> first decoded frame, and -> the
studio back on program (needs ``fallback_policy = "auto"``; set here, ignored with
a note on a build without it).

    unshare -n sh -c 'ip link set lo up; PYTHONPATH=. .venv/bin/python bench/impairment.py --seconds 300'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator.app import create_app  # noqa: E402
from orchestrator.appkeys import SHOWS  # noqa: E402
from orchestrator.config import Config, ConfigError, parse  # noqa: E402
from orchestrator.links import tokens_for  # noqa: E402
from tests.netimpair import NetImpair, Profile  # noqa: E402
from tests.whipclient import PatternChecker, PatternTrack, ToneTrack, TrackPublisher  # noqa: E402

OPERATOR = "bench-operator-token"
SHOW = "bench"
STUDIO = "hongkong"


def make_config(data_dir: Path, policy: bool) -> tuple[Config, str]:
    show: dict[str, Any] = {
        "id": SHOW,
        "title": "Impairment bench",
        "width": 640,
        "height": 360,
        "fps": 30,
        "video_bitrate": 1_000_000,
        "studios": [{"id": STUDIO, "name": "香港 Hong Kong", "place": "Hong Kong"}],
        "outputs": {"hls_segment_seconds": 2.0, "hls_window": 6, "flv": False, "whep": False},
    }
    if policy:
        show |= {"fallback_policy": "auto", "fallback_return_after": 2.0}
    data = {
        "server": {
            "operator_token": OPERATOR,
            "link_secret": "bench-link-secret-0123456789",
            "ice_hosts": ["127.0.0.1"],
            "data_dir": str(data_dir),
        },
        "shows": [show],
    }
    try:
        return parse(data, "bench"), "auto" if policy else "manual"
    except ConfigError as exc:
        if policy and "fallback" in str(exc):
            return make_config(data_dir, False)[0], f"manual (this build refuses the policy keys: {exc})"
        raise


class FrameLog:
    """Times of the studio's decoded frames; a sample of their pictures checked (tests/whipclient.py)."""

    def __init__(self, check_every: int) -> None:
        self.times: list[float] = []
        self.checker = PatternChecker(check_every)

    def push(self, frame: av.VideoFrame) -> None:
        self.times.append(time.monotonic())
        self.checker.push(frame)

    def stop(self) -> None:
        self.checker.stop()


class TimedPattern(PatternTrack):
    """The publisher's picture, with the time each frame was made (to tell a sender stall from a network one)."""

    def __init__(self, width: int, height: int) -> None:
        super().__init__(width, height)
        self.times: list[float] = []

    async def recv(self) -> av.VideoFrame:
        frame = await super().recv()
        self.times.append(time.monotonic())
        return frame


async def loop_lag(samples: list[float], stop: asyncio.Event) -> None:
    """How late a 50 ms sleep wakes up: the event loop's starvation."""
    while not stop.is_set():
        t = time.monotonic()
        await asyncio.sleep(0.05)
        samples.append(time.monotonic() - t - 0.05)


def fps_windows(times: list[float], start: float, end: float) -> list[int]:
    counts = [0] * max(int(end - start), 1)
    for t in times:
        if start <= t < end:
            i = int(t - start)
            if i < len(counts):
                counts[i] += 1
    return counts


def gaps(times: list[float], start: float, end: float) -> list[float]:
    inside = [t for t in times if start <= t <= end]
    edges = [start, *inside, end]
    return [b - a for a, b in zip(edges, edges[1:], strict=False)]


def long_gaps(times: list[float], start: float, end: float, over: float) -> list[tuple[float, float]]:
    inside = [t for t in times if start <= t <= end]
    edges = [start, *inside, end]
    return [(a, b) for a, b in zip(edges, edges[1:], strict=False) if b - a > over]


def stalled(sent: list[float], a: float, b: float) -> bool:
    """The publisher made fewer than half its frames between ``a`` and ``b``: not the network's doing."""
    return sum(1 for t in sent if a <= t <= b) < 0.5 * 30 * (b - a)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(p / 100 * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


async def read_pdt(http: aiohttp.ClientSession, url: str, drifts: list[float]) -> None:
    from mixer.outputs.hlsplaylist import parse_playlist

    try:
        async with http.get(url) as res:
            if res.status != 200:
                return
            text = await res.text()
        now = time.time()
        playlist = parse_playlist(text)
        last = playlist.segments[-1] if playlist.segments else None
        if last is not None and last.program_date_time is not None:
            drifts.append(last.program_date_time + last.duration - now)
    except (aiohttp.ClientError, ValueError):
        pass


async def scenario(
    name: str,
    loss: float,
    jitter_ms: float,
    delay_ms: float,
    seconds: float,
    outage: float,
    seed: int,
    check_every: int,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-impair-") as tmp:
        config, policy = make_config(Path(tmp), policy=True)
        app = create_app(config)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        show = app[SHOWS][SHOW]
        token = tokens_for(config).mint(SHOW, STUDIO)
        picture = TimedPattern(640, 360)
        publisher = TrackPublisher(base, SHOW, STUDIO, token, picture, ToneTrack(440))
        lags: list[float] = []
        stop_lag = asyncio.Event()
        auth = {"Authorization": f"Bearer {OPERATOR}"}
        log = FrameLog(check_every)
        impair = NetImpair(seed)
        result: dict[str, Any] = {
            "scenario": name,
            "loss_pct": loss * 100,
            "jitter_ms": jitter_ms,
            "delay_ms": delay_ms,
            "seconds": seconds,
            "outage_s": outage,
            "seed": seed,
            "policy": policy,
        }
        try:
            await publisher.start(timeout=20)
            async with asyncio.timeout(20):
                while STUDIO not in show.sessions:
                    await asyncio.sleep(0.05)
            session = show.sessions[STUDIO]
            push = session.feed.push_video

            def push_video(frame: av.VideoFrame) -> None:
                log.push(frame)
                push(frame)

            session.feed.push_video = push_video  # type: ignore[method-assign]
            impair.attach(session)
            async with aiohttp.ClientSession() as http:
                async with asyncio.timeout(20):
                    while len(log.times) < 60:
                        await asyncio.sleep(0.1)
                async with http.post(f"{base}/api/shows/{SHOW}/cut", json={"studio": STUDIO}, headers=auth) as res:
                    assert res.status == 200, await res.text()
                await asyncio.sleep(3)
                profile = Profile(loss=loss, delay_ms=delay_ms, jitter_ms=jitter_ms)
                impair.up.profile = impair.down.profile = profile
                before = dict(session.stats())
                lag_task = asyncio.ensure_future(loop_lag(lags, stop_lag))
                load_before, cpu_before = os.getloadavg()[0], time.process_time()
                start = time.monotonic()
                end = start + seconds
                off_program = 0.0
                off_since: float | None = None
                back_on_program: float | None = None
                outage_at = start + min(10.0, seconds / 3) if outage else None
                outage_end = outage_at + outage if outage_at is not None else None
                drifts: list[float] = []
                next_pdt = start
                step = 0.05
                while (now := time.monotonic()) < end:
                    if outage_at is not None and outage_end is not None:
                        impair.outage = outage_at <= now < outage_end
                    on = show.program.on_air == STUDIO
                    if not on:
                        off_program += step
                        off_since = off_since or now
                    elif off_since is not None:
                        if outage_end is not None and now >= outage_end and back_on_program is None:
                            back_on_program = now - outage_end
                        off_since = None
                    if now >= next_pdt:
                        next_pdt += 5
                        asyncio.ensure_future(read_pdt(http, f"{base}/live/{SHOW}/index.m3u8", drifts))
                    await asyncio.sleep(step)
                after = dict(session.stats())
                stop_lag.set()
                await lag_task
                cpu = (time.process_time() - cpu_before) / (time.monotonic() - start)
            windows = fps_windows(log.times, start, end)
            sent = fps_windows(picture.times, start, end)
            if outage_at is not None and outage_end is not None:
                # fps and freezes outside the outage (and its first 5 s of recovery)
                quiet = [c for i, c in enumerate(windows) if not (outage_at - start - 1 <= i < outage_end - start + 5)]
                frame_after = next((t for t in log.times if t >= outage_end), None)
                result["recovery_frames_s"] = round(frame_after - outage_end, 2) if frame_after else None
                result["recovery_program_s"] = round(back_on_program, 2) if back_on_program is not None else None
                gap_list = [g for g in gaps(log.times, start, end) if g < outage]  # the outage itself is not a freeze
            else:
                quiet = windows
                gap_list = gaps(log.times, start, end)
            expected = int(after["packets_expected"]) - int(before["packets_expected"])  # type: ignore[call-overload]
            lost = int(after["packets_lost"]) - int(before["packets_lost"])  # type: ignore[call-overload]

            def delta(key: str) -> int:
                return int(after.get(key) or 0) - int(before.get(key) or 0)  # type: ignore[call-overload]

            result |= {
                "fps_median": statistics.median(quiet) if quiet else 0,
                "fps_p5": percentile([float(c) for c in quiet], 5),
                "fps_min": min(quiet) if quiet else 0,
                "freezes_200ms": sum(1 for g in gap_list if g > 0.2),
                "freezes_500ms": sum(1 for g in gap_list if g > 0.5),
                "longest_gap_ms": round(max(gap_list) * 1000) if gap_list else None,
                "off_program_s": round(off_program, 2),
                "measured_loss_pct": round(100 * lost / expected, 2) if expected > 0 else None,
                "injected": {"up": dict(impair.up.stats), "down": dict(impair.down.stats)},
                "nacks": delta("nacks_sent"),
                "plis": delta("plis_sent"),
                "firs": delta("firs_sent"),
                "keyframes": delta("keyframes_received"),
                "frames_dropped": delta("frames_dropped"),
                "gaps_skipped": delta("gaps_skipped"),
                "checked_frames": log.checker.checked,
                "broken_frames": log.checker.broken,
                "worst_pattern_error": round(log.checker.worst, 1),
                "pdt_drift_s": [round(min(drifts), 2), round(max(drifts), 2)] if drifts else None,
                "late_ticks": show.program.stats().get("late_ticks"),
                # What the machine was doing: the publisher's own frame rate (same process), how
                # late the event loop woke, this process's CPU and the machine's load.
                "sent_fps_p5": percentile([float(c) for c in sent], 5),
                "sent_fps_min": min(sent) if sent else 0,
                "freezes_500ms_sender_stalled": sum(
                    1 for a, b in long_gaps(log.times, start, end, 0.5) if stalled(picture.times, a, b)
                ),
                "loop_lag_ms_p99_max": [round(1000 * percentile(lags, 99)), round(1000 * max(lags, default=0))],
                "process_cores": round(cpu, 2),
                "loadavg_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
            }
        finally:
            log.stop()
            await publisher.stop()
            await runner.cleanup()
        return result


def use_aiortc_receive_path() -> None:
    """Leave aiortc's receive path as it is; only count (loss per SSRC) as ours does."""
    import rooms.whipsession
    from rooms.compat import ReceivePath

    def counting_only(receiver: Any, kind: str) -> ReceivePath:
        path = ReceivePath(receiver, "audio")  # the audio mode replaces nothing
        path.kind = kind
        return path

    rooms.whipsession.install_receive_path = counting_only  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300, help="measured time per loss rate (default 300)")
    parser.add_argument("--losses", default="1,3,5,10", help="random loss rates in %%, both ways")
    parser.add_argument("--jitter-ms", type=float, default=40)
    parser.add_argument("--delay-ms", type=float, default=40, help="one-way delay each way (jitter is +- around it)")
    parser.add_argument("--outage", type=float, default=10, help="outage length (0: no outage scenario)")
    parser.add_argument("--outage-seconds", type=float, default=40, help="length of the outage scenario")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--check-every", type=int, default=3, help="check every Nth decoded picture (0: none)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--aiortc-receive-path", action="store_true", help="baseline: aiortc's own jitter buffer, NACK and PLI"
    )
    args = parser.parse_args()
    if args.aiortc_receive_path:
        use_aiortc_receive_path()
    results = []
    runs = [(f"loss {x}%", float(x) / 100, 0.0) for x in args.losses.split(",") if x]
    if args.outage:
        runs.append((f"outage {args.outage:g}s", 0.0, args.outage))
    for name, loss, outage in runs:
        seconds = args.outage_seconds if outage else args.seconds
        result = asyncio.run(
            scenario(name, loss, args.jitter_ms, args.delay_ms, seconds, outage, args.seed, args.check_every)
        )
        print(json.dumps(result), flush=True)
        results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
