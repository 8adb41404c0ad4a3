"""The crew monitor: its glass-to-glass delay, and the server CPU of a solo (PFL) stream.

``delay``: one studio sends a flash and a beep at the same instant every second
(tests/flashbeep.py, aiortc, 640x360), the control page in headless Chromium plays the
WebRTC program monitor, and a script in the page timestamps each flash as displayed
(``requestVideoFrameCallback``: the frame's expected display time) and each beep as
it reaches the page's audio graph (a WebAudio analyser polled every 4 ms, so ±4 ms,
and the audio device's output latency is not included). Source time is the flash's
and beep's own instant (``epoch + k`` seconds, same machine clock), so these are
camera-to-screen and microphone-to-ear through the whole service. Next to it, the
page's own figure (program clock tick -> display, monitor.js) for the same frames.

``solo``: two synthetic studios (FFmpeg WHIP publishers, 640x360, separate processes),
the server's CPU (/proc, all threads) over ``--seconds`` with no solo, then with one
studio soloed to one listener (aiortc, in this process), then both studios soloed; and
the solo encodes' own thread CPU from the API (``crew.solo_encodes[].cpu_cores``).

    unshare -n sh -c 'scripts/loopback-net.sh; .venv/bin/python bench/crewmonitor.py --seconds 15 --runs 2'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import OPERATOR, BenchServer  # noqa: E402
from rooms import compat  # noqa: E402

compat.install()
compat.offer_host_addresses(["127.0.0.1"])  # this process's aiortc peers (the studio, the solo listeners)

PAGE_PROBE = """
(() => {
  const g = (window.g2g = { flashes: [], beeps: [], pageDelays: [] });
  const v = document.getElementById("pgm-video");
  const c = document.createElement("canvas"); c.width = 32; c.height = 18;
  const x = c.getContext("2d", { willReadFrequently: true });
  let bright = false;
  const onFrame = (now, meta) => {
    x.drawImage(v, 0, 0, 32, 18);
    const d = x.getImageData(0, 0, 32, 18).data;
    let s = 0; for (let i = 1; i < d.length; i += 4) s += d[i];
    const b = s / (d.length / 4) > 128;
    if (b && !bright) g.flashes.push(performance.timeOrigin + meta.expectedDisplayTime);
    bright = b;
    const m = window.controlPage.monitor;
    if (m.lastDelayMs != null) g.pageDelays.push(m.lastDelayMs);
    v.requestVideoFrameCallback(onFrame);
  };
  v.requestVideoFrameCallback(onFrame);
  const ac = new AudioContext();
  const an = ac.createAnalyser(); an.fftSize = 256;
  ac.createMediaStreamSource(v.srcObject).connect(an);
  const buf = new Float32Array(256);
  let loud = false, quietSince = 0;
  setInterval(() => {
    an.getFloatTimeDomainData(buf);
    let p = 0; for (const q of buf) p = Math.max(p, Math.abs(q));
    const now = performance.timeOrigin + performance.now();
    if (p > 0.05 && !loud && now - quietSince > 300) g.beeps.push(now);
    if (p > 0.05) loud = true; else if (loud) { loud = false; quietSince = now; }
  }, 4);
  return ac.state;
})()
"""


def _offsets(onsets_ms: list[float], epoch: float) -> list[float]:
    """Delay of each onset after the source's whole second before it, in ms (delays < 1 s)."""
    return [round(((t / 1000 - epoch) % 1.0) * 1000, 1) for t in onsets_ms]


async def measure_delay(seconds: float) -> dict[str, Any]:
    from tests.chromium import Chromium
    from tests.flashbeep import BeepTrack, FlashTrack
    from tests.whipclient import TrackPublisher

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, BenchServer(Path(tmp), 1, 640, 360, 30) as server:
        base = f"http://127.0.0.1:{server.port}"
        epoch = time.time() + 0.5
        pub = TrackPublisher(base, "bench", "s0", server.token("s0"), FlashTrack(epoch), BeepTrack(epoch))
        await pub.start(timeout=30)
        try:
            await asyncio.to_thread(server.wait_online, 1)  # the publisher runs on this loop: never block it
            await asyncio.to_thread(server.api, "/api/shows/bench/cut", {"studio": "s0"})
            async with Chromium(extra_flags=("--autoplay-policy=no-user-gesture-required",)) as browser:
                page = await browser.open(f"{base}/control/bench")
                await page.wait_for("!document.getElementById('signin').hidden")
                await page.evaluate("document.querySelector('#signin [data-mode=token]').click()")
                await page.evaluate(f"document.getElementById('signin-token').value = {json.dumps(OPERATOR)}")
                await page.evaluate("document.getElementById('signin-submit').click()")
                await page.wait_for("controlPage.monitor && controlPage.monitor.mode === 'webrtc'", timeout=30)
                await page.evaluate("crewMonitor.setSound(true)")
                await asyncio.sleep(2)
                state = await page.evaluate(PAGE_PROBE)
                await asyncio.sleep(seconds)
                g = await page.evaluate("JSON.parse(JSON.stringify(window.g2g))")
                stats = await page.evaluate("JSON.parse(JSON.stringify(controlPage.monitor.stats))")
        finally:
            await pub.stop()
    video = _offsets(g["flashes"], epoch)
    audio = _offsets(g["beeps"], epoch)
    page_delays = g["pageDelays"]
    return {
        "audio_context": state,
        "browser_jitter_buffer_ms": {
            "video": stats.get("monitorVideoJitterMs"),
            "audio": stats.get("monitorAudioJitterMs"),
        },
        "flashes": len(video),
        "beeps": len(audio),
        "video_ms": {"median": statistics.median(video), "min": min(video), "max": max(video)} if video else None,
        "audio_ms": {"median": statistics.median(audio), "min": min(audio), "max": max(audio)} if audio else None,
        "page_tick_to_display_ms": {
            "median": statistics.median(page_delays),
            "min": min(page_delays),
            "max": max(page_delays),
        }
        if page_delays
        else None,
    }


async def _solo_listener(port: int, studio: str) -> Any:
    import aiohttp
    from aiortc import RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="recvonly")
    pc.on("track", lambda track: asyncio.ensure_future(_drain(track)))
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/sdp"}
    url = f"http://127.0.0.1:{port}/api/shows/bench/solo/{studio}"
    async with aiohttp.ClientSession() as http, http.post(url, data=pc.localDescription.sdp, headers=headers) as res:
        assert res.status == 201, await res.text()
        answer = await res.text()
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return pc


async def _drain(track: Any) -> None:
    from aiortc.mediastreams import MediaStreamError

    while True:
        try:
            await track.recv()
        except MediaStreamError:
            return


async def measure_solo(seconds: float) -> dict[str, Any]:
    from rooms.syntheticstudio import spawn_studio

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, BenchServer(Path(tmp), 2, 640, 360, 30) as server:
        pubs = [
            spawn_studio(
                server.whip_url(f"s{i}"),
                server.token(f"s{i}"),
                f"Studio {i}",
                tone_hz=440 + 300 * i,
                width=640,
                height=360,
                fps=30,
                verbose=False,
            )
            for i in range(2)
        ]
        listeners: list[Any] = []
        try:
            server.wait_online(2)
            server.api("/api/shows/bench/cut", {"studio": "s0"})
            await asyncio.sleep(3)
            for step, solo in (("no solo", []), ("1 solo", ["s1"]), ("2 solos", ["s0"])):
                for studio in solo:
                    listeners.append(await _solo_listener(server.port, studio))
                await asyncio.sleep(2)
                cpu0, t0 = server.cpu_seconds(), time.monotonic()
                await asyncio.sleep(seconds)
                cores = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
                crew = server.state()["crew"]
                out[step] = {
                    "server_cores": round(cores, 3),
                    "solo_streams": crew["solo_streams"],
                    "encode_thread_cores": [e["cpu_cores"] for e in crew["solo_encodes"]],
                }
        finally:
            for pc in listeners:
                await pc.close()
            for p in pubs:
                p.terminate()
            for p in pubs:
                p.wait(5)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--only", choices=("delay", "solo"))
    args = parser.parse_args()
    for run in range(args.runs):
        if args.only in (None, "delay"):
            print(json.dumps({"run": run + 1, "delay": asyncio.run(measure_delay(args.seconds))}), flush=True)
        if args.only in (None, "solo"):
            print(json.dumps({"run": run + 1, "solo": asyncio.run(measure_solo(args.seconds))}), flush=True)


if __name__ == "__main__":
    main()
