"""Talk and listen: what the hosts' return feeds cost, and how late a voice reaches the other studio.

Starts ``broadcast serve`` (bench/harness.py, a 1280x720 show) and measures:

1. **CPU**: ``--studios`` synthetic studios (FFmpeg WHIP, their own processes; small, 320x180 at
   15 fps, so that 8 of them fit on a busy 2-core machine: the returns' cost does not depend on it),
   two of them side by side on air; server CPU over ``--seconds`` without return feeds, then
   with one return feed per studio (aiortc clients in this process: their decoding is not
   counted), then without again. Also the program's output fps and late ticks in each phase.
2. **Mouth to ear, studio A -> studio B**: A is an aiortc publisher beeping at known instants
   (tests/flashbeep.py: the beep of second s is "captured" at epoch + s); B's return feed is
   decoded by an aiortc client; delay = the beep's first sample arriving decoded at B minus
   its capture time.
3. **Talkback, operator microphone -> host ear**: an aiortc "operator" sends the same beeps as
   talkback to B; measured the same way at B's return.

The ear is an aiortc client; its receive jitter buffer is inside the figures, measured twice:
with one packet (near a browser's adaptive buffer on a clean loopback) and with aiortc's own
four (80 ms more).

    unshare -n sh -c 'scripts/loopback-net.sh && .venv/bin/python bench/talk_listen.py'
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import OPERATOR, SHOW, BenchServer, stop_processes  # noqa: E402, I001
from mixer.encodedpacket import ProgramFormat  # noqa: E402
from rooms import compat  # noqa: E402
from rooms.syntheticstudio import spawn_studio  # noqa: E402
from tests.flashbeep import BeepTrack, FlashTrack  # noqa: E402
from tests.returnclient import Listener, Talker  # noqa: E402
from tests.whipclient import ToneTrack, TrackPublisher  # noqa: E402

RATE = 48_000


def beep_delays(listener: Listener, epoch: float, since_wall: float) -> list[float]:
    """Seconds from each beep's capture (epoch + whole seconds) to its first sample decoded at ``listener``.

    A beep is the first loud sample after at least 0.3 s of quiet; a decoded 20 ms chunk counts
    from its arrival, its k-th sample k / 48000 s later (as if played at once).
    """
    offset = time.time() - time.monotonic()
    delays: list[float] = []
    quiet = 0
    for arrival, chunk in listener.chunks:
        loud = np.flatnonzero(np.abs(chunk) > 1500)
        if len(loud) == 0:
            quiet += len(chunk)
            continue
        heard = arrival + offset + loud[0] / RATE
        if quiet + loud[0] >= 0.3 * RATE and heard >= since_wall:
            delays.append(heard - (epoch + math.floor(heard - epoch)))
        quiet = len(chunk) - int(loud[-1]) - 1
    return delays


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ms = sorted(1000 * v for v in values)
    return {
        "n": len(ms),
        "median_ms": round(float(statistics.median(ms)), 1),
        "p90_ms": round(float(ms[int(0.9 * (len(ms) - 1))]), 1),
        "min_ms": round(float(ms[0]), 1),
        "max_ms": round(float(ms[-1]), 1),
    }


def phase(server: BenchServer, seconds: float) -> dict[str, Any]:
    before, cpu0, t0 = server.state()["mixer"], server.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    after, cpu1, t1 = server.state()["mixer"], server.cpu_seconds(), time.monotonic()
    return {
        "cores": round((cpu1 - cpu0) / (t1 - t0), 3),
        "output_fps": after.get("output_fps"),
        "late_ticks": after.get("late_ticks", 0) - before.get("late_ticks", 0),
    }


async def open_return(server: BenchServer, studio: str, timeout: float = 60) -> Listener:
    """A return feed for ``studio``, retried while the studio is between sessions (409, a loaded machine)."""
    deadline = time.monotonic() + timeout
    while True:
        listener = Listener(f"{server.url}/return/{SHOW}/{studio}", server.token(studio))
        await listener.start(timeout=60, expect=409)
        if listener.status == 201:
            return listener
        if time.monotonic() > deadline:
            raise RuntimeError(f"no return feed for {studio}: {listener.error}")
        await asyncio.sleep(1)


async def cpu_part(server: BenchServer, studios: int, seconds: float) -> dict[str, Any]:
    procs = [
        spawn_studio(server.whip_url(f"s{i}"), server.token(f"s{i}"), f"s{i}", width=320, height=180, fps=15,
                     bitrate=300_000, tone_hz=300 + 100 * i, retry=True, stderr=subprocess.DEVNULL)
        for i in range(studios)
    ]  # fmt: skip
    listeners: list[Listener] = []
    try:
        await asyncio.to_thread(server.wait_online, studios, 60)
        server.api(f"/api/shows/{SHOW}/layout", {"layout": "side-by-side", "studios": ["s0", "s1"]})
        server.api(f"/api/shows/{SHOW}/take", {"transition": "cut"})
        await asyncio.sleep(3)
        without = await asyncio.to_thread(phase, server, seconds)
        for i in range(studios):
            listeners.append(await open_return(server, f"s{i}"))
        await asyncio.sleep(3)
        with_returns = await asyncio.to_thread(phase, server, seconds)
        status = server.api(f"/api/shows/{SHOW}/talkback")
        for listener in listeners:
            await listener.stop(server.url)
        listeners.clear()
        await asyncio.sleep(3)
        after = await asyncio.to_thread(phase, server, seconds)
        return {
            "studios": studios,
            "without": without,
            "with_returns": with_returns,
            "without_again": after,
            "return_picture": status["picture"].get("encode", {}),
            "return_audio": status["audio"],
        }
    finally:
        for listener in listeners:
            await listener.stop(server.url)
        stop_processes(procs)


async def delay_part(
    server: BenchServer, seconds: float, prefetch: int | None, verbose: bool = False
) -> dict[str, Any]:
    epoch = time.time() + 1.0
    a = TrackPublisher(server.url, SHOW, "s0", server.token("s0"), FlashTrack(epoch), BeepTrack(epoch, hz=1000))
    b = TrackPublisher(server.url, SHOW, "s1", server.token("s1"), FlashTrack(epoch), ToneTrack(300))
    ret = Listener(f"{server.url}/return/{SHOW}/s1", server.token("s1"), video=False, audio_prefetch=prefetch)
    talk_epoch = 0.0
    talker: Talker | None = None
    try:
        await a.start()
        await b.start()
        await asyncio.to_thread(server.wait_online, 2, 30)
        server.api(f"/api/shows/{SHOW}/layout", {"layout": "side-by-side", "studios": ["s0", "s1"]})
        server.api(f"/api/shows/{SHOW}/take", {"transition": "cut"})
        await ret.start()
        await asyncio.sleep(3)
        since = time.time()
        await asyncio.sleep(seconds)
        studio = beep_delays(ret, epoch, since)
        # Talkback: A gone (its beeps no longer in B's return), an operator beeping to B.
        await a.stop()
        talk_epoch = time.time() + 1.0
        talker = Talker(server.url, SHOW, {"Authorization": f"Bearer {OPERATOR}"}, BeepTrack(talk_epoch, hz=1000))
        await talker.start()
        await talker.key(True, ["s1"])
        await asyncio.sleep(3)
        since = time.time()
        await asyncio.sleep(seconds)
        talkback = beep_delays(ret, talk_epoch, since)
        if verbose:
            print("A->B each (ms):", [round(1000 * d) for d in studio])
            print("talkback each (ms):", [round(1000 * d) for d in talkback])
        return {"studio_a_to_b": summary(studio), "talkback_to_host": summary(talkback)}
    finally:
        if talker is not None:
            await talker.stop()
        await ret.stop(server.url)
        await a.stop()
        await b.stop()


def stage_costs(studios: int, seconds: float) -> dict[str, Any]:
    """CPU per second of media of each return stage, in this process's own thread (time.thread_time):
    what the server adds, independent of how much CPU a busy machine gives it."""
    from bench.viewerencode import program_packets
    from mixer.audiomixer import AudioMixer
    from mixer.feedbuffer import FeedBuffer
    from mixer.mixminus import MixMinus
    from mixer.opusencoder import OpusEncoder
    from mixer.outputs.returnpicture import return_format
    from mixer.outputs.viewercodec import ViewerCodec
    from mixer.outputs.viewerencoder import _FACTORIES
    from rooms.testtone import Tone

    fps, rate = 30, RATE
    ticks = round(seconds * fps)
    spt = rate // fps
    ids = [f"s{i}" for i in range(studios)]

    def mix_run(returns: bool) -> tuple[float, list[dict[str, np.ndarray]]]:
        mixer, minus = AudioMixer(rate, spt), MixMinus(rate, spt)
        feeds = {sid: FeedBuffer(sid) for sid in ids}
        tones = {sid: Tone(300 + 50 * i) for i, sid in enumerate(ids)}
        mixer.set_on_air(ids[:2], 1)
        out: list[dict[str, np.ndarray]] = []
        minus.on_mix = out.append
        if returns:
            minus.set_returns(frozenset(ids))
        sent, cpu = 0, 0.0
        for n in range(ticks):
            while sent * 960 < (n + 4) * spt:  # keep every studio's FIFO primed (20 ms frames)
                for sid in ids:
                    feeds[sid].push_audio(tones[sid].frame(sent))
                sent += 1
            t0 = time.thread_time()
            mixer.keep_parts = minus.active
            mixer.mix(feeds)
            minus.tick(mixer)
            cpu += time.thread_time() - t0
        return cpu, out

    mix_plain, _ = mix_run(False)
    mix_minus, mixes = mix_run(True)
    encoders = {sid: OpusEncoder(rate, 64_000, 0) for sid in ids}
    t0 = time.thread_time()
    for tick in mixes:
        for sid, samples in tick.items():
            encoders[sid].encode(samples)
    opus = time.thread_time() - t0

    fmt = ProgramFormat(1280, 720, fps, video_bitrate=2_500_000)
    packets = program_packets(fmt, ticks)
    small = return_format(fmt)
    decoder = av.CodecContext.create("h264", "r")
    assert isinstance(decoder, av.VideoCodecContext)
    decoder.thread_count = 1  # as in ViewerEncoder; all the work in this thread, so thread_time sees it
    scaler = av.video.reformatter.VideoReformatter()
    encoder = _FACTORIES[ViewerCodec.VP8](small)
    encoder.width, encoder.height, encoder.pix_fmt = small.width, small.height, "yuv420p"
    encoder.time_base, encoder.bit_rate = Fraction(1, 90000), small.video_bitrate
    encoder.framerate = Fraction(fps)
    encoder.open()
    t0 = time.thread_time()
    size = 0
    for n, packet in enumerate(packets):
        for frame in decoder.decode(packet.to_av()):
            scaled = scaler.reformat(frame, width=small.width, height=small.height, format="yuv420p")
            scaled.pts, scaled.time_base, scaled.duration = n * 3000, Fraction(1, 90000), 3000
            scaled.pict_type = av.video.frame.PictureType.NONE
            size += sum(len(bytes(p)) for p in encoder.encode(scaled))
    picture = time.thread_time() - t0
    return {
        "studios": studios,
        "seconds": seconds,
        "audio_mix_cores_without_returns": round(mix_plain / seconds, 4),
        "audio_mix_cores_with_mix_minus": round(mix_minus / seconds, 4),
        "opus_cores_all_returns": round(opus / seconds, 4),
        "opus_cores_per_return": round(opus / seconds / studios, 4),
        "picture_cores": round(picture / seconds, 4),
        "picture_size": f"{small.width}x{small.height}",
        "picture_kbps": round(size * 8 / seconds / 1000),
    }


def internal_delay(seconds: float) -> dict[str, Any]:
    """The server's own part of the mouth-to-ear delay, in real time in this process: a beep's
    first decoded frame pushed into studio A's feed (as aiortc's decoder does) -> the Opus packet
    of B's return that carries the beep's first sample leaves the encoder thread. The clock ticks
    at 30 fps in a thread (as the program clock), the Opus encode in its own (as on the server)."""
    import threading

    from mixer.audiomixer import AudioMixer
    from mixer.feedbuffer import FeedBuffer
    from mixer.mixminus import MixMinus
    from mixer.returnaudio import ReturnAudioEncoder

    fps, spt = 30, RATE // 30
    mixer, minus = AudioMixer(RATE, spt), MixMinus(RATE, spt)
    feeds = {"a": FeedBuffer("a"), "b": FeedBuffer("b")}
    mixer.set_on_air(["a", "b"], 1)
    minus.set_returns(frozenset({"b"}))
    emitted: list[tuple[float, bytes]] = []
    encoder = ReturnAudioEncoder(RATE, lambda sid, p: emitted.append((time.monotonic(), p.data)))
    minus.on_mix = encoder.submit
    encoder.start()
    stop = threading.Event()
    start = time.monotonic() + 0.2

    def clock() -> None:
        n = 0
        while not stop.is_set():
            due = start + n / fps
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            mixer.keep_parts = True
            mixer.mix(feeds)
            minus.tick(mixer)
            n += 1

    pushed: list[float] = []  # monotonic time each beep's first frame was pushed

    def source() -> None:
        k = 0
        while not stop.is_set():
            due = start + k * 0.02
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            i = np.arange(k * 960, (k + 1) * 960)
            beep = (i % RATE) < 0.1 * RATE
            samples = np.where(beep, np.sin(2 * np.pi * 1000 * i / RATE) * 8000, 0).astype(np.int16)
            for studio in ("a", "b"):  # b says the same: its own sound must not be in its return
                frame = av.AudioFrame.from_ndarray(np.repeat(samples, 2).reshape(1, -1), format="s16", layout="stereo")
                frame.sample_rate, frame.pts, frame.time_base = RATE, k * 960, Fraction(1, RATE)
                feeds[studio].push_audio(frame)
            if (k * 960) % RATE == 0:
                pushed.append(time.monotonic())
            k += 1

    threads = [threading.Thread(target=clock, daemon=True), threading.Thread(target=source, daemon=True)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(2)
    encoder.stop()
    encoder.join(2)
    decoder = av.CodecContext.create("libopus", "r")
    onsets: list[float] = []
    quiet = 0
    for at, data in emitted:
        for frame in decoder.decode(av.Packet(data)):
            x = frame.to_ndarray().reshape(-1)
            loud = np.flatnonzero(np.abs(x) > 1500)
            if len(loud) and quiet + loud[0] // 2 >= 0.3 * RATE:
                onsets.append(at)
            quiet = (len(x) - int(loud[-1]) - 1) // 2 if len(loud) else quiet + len(x) // 2
    delays = [min((o - p for o in onsets if o >= p), default=9.0) for p in pushed]
    delays = [d for d in delays if d < 1.0]  # the last beeps' packets may not have left before the stop
    return {"feed_to_opus_packet": summary(delays)}


async def main_async(args: argparse.Namespace) -> None:
    if args.internal:
        print("server-internal:", internal_delay(args.seconds), flush=True)
        return
    if args.costs:
        print("stage costs:", stage_costs(args.studios, args.seconds), flush=True)
        return
    compat.install()  # this process's aiortc clients: the patched aioice, offering loopback like the server
    compat.offer_host_addresses(["127.0.0.1"])
    with tempfile.TemporaryDirectory() as tmp:
        show_extra = "video_bitrate = 2500000\n[shows.outputs]\nhls = true\nflv = true"
        with BenchServer(Path(tmp), max(2, args.studios), show_extra=show_extra) as server:
            if not args.skip_delay:
                for prefetch in (1, None):  # the ear: a browser-like 1-packet buffer, then aiortc's own 4
                    result = await delay_part(server, args.seconds, prefetch, args.verbose)
                    print(f"delay (client buffer {prefetch or 4} packets):", result, flush=True)
            if not args.skip_cpu:
                print("cpu:", await cpu_part(server, args.studios, args.seconds), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--studios", type=int, default=8)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--skip-cpu", action="store_true")
    p.add_argument("--skip-delay", action="store_true")
    p.add_argument("--verbose", action="store_true", help="print every delay measured")
    p.add_argument("--internal", action="store_true", help="only the server's own part of the delay (in process)")
    p.add_argument("--costs", action="store_true", help="only the return stages' CPU, in this process (no server)")
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
