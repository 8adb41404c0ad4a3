"""Server CPU per output reader: HTTP-FLV readers and WHEP viewers on one show, one encode.

Starts ``broadcast serve`` as its own process with one 720p30 show at
2.5 Mbit/s, one synthetic studio (FFmpeg WHIP publisher, grain strip: a real
bitrate) on air, then in steps adds FLV readers and WHEP viewers, each kind
from a client process of its own, and reads the server's CPU from /proc over
each step (all threads; the event loop's thread separately, since that is
where aiortc and the FLV fan-out run).

    unshare -n sh -c 'ip link set lo up; .venv/bin/python bench/fanout.py --flv 50 --whep 50 --seconds 15'

The WHEP viewers are aiortc peers that finish ICE and DTLS and take every
SRTP packet off the wire but neither depacketize nor decode (so 50 of them
fit in one client process); the server does exactly what it does for a
browser.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import BenchServer  # noqa: E402

# --- client processes ---------------------------------------------------------------------


async def flv_clients(base: str, count: int) -> dict[str, Any]:
    import aiohttp

    received = [0] * count
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def read(i: int, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{base}/live/bench.flv") as res:
            async for chunk in res.content.iter_any():
                received[i] += len(chunk)

    t0 = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        tasks = [asyncio.ensure_future(read(i, http)) for i in range(count)]
        print("ready", flush=True)
        await stop.wait()
        seconds = time.monotonic() - t0
        for task in tasks:
            task.cancel()
    return {"kind": "flv", "readers": count, "mbit_s_each": [round(8 * b / seconds / 1e6, 2) for b in received]}


async def whep_clients(base: str, count: int) -> dict[str, Any]:
    import aiohttp
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.rtcdtlstransport import RTCDtlsTransport

    from rooms.compat import offer_host_addresses, register_h264_high

    register_h264_high()  # offer what the stream is
    offer_host_addresses(["127.0.0.1"])  # aioice leaves loopback out
    counts: dict[int, list[int]] = {}

    async def count_rtp(self: RTCDtlsTransport, data: bytes, arrival_time_ms: int) -> None:
        entry = counts.setdefault(id(self), [0, 0])
        entry[0] += 1
        entry[1] += len(data)

    RTCDtlsTransport._handle_rtp_data = count_rtp  # type: ignore[method-assign]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    pcs: list[RTCPeerConnection] = []

    async def join(http: aiohttp.ClientSession) -> None:
        pc = RTCPeerConnection()
        pcs.append(pc)
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        headers = {"Content-Type": "application/sdp"}
        async with http.post(f"{base}/whep/bench", data=pc.localDescription.sdp, headers=headers) as res:
            assert res.status == 201, await res.text()
            answer = await res.text()
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async with aiohttp.ClientSession() as http:
        for start in range(0, count, 10):
            await asyncio.gather(*(join(http) for _ in range(start, min(count, start + 10))))
    deadline = time.monotonic() + 30
    while sum(pc.connectionState == "connected" for pc in pcs) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    print("ready", flush=True)
    marks = {k: v[1] for k, v in counts.items()}
    t0 = time.monotonic()
    await stop.wait()
    seconds = time.monotonic() - t0
    rates = [round(8 * (v[1] - marks.get(k, 0)) / seconds / 1e6, 2) for k, v in counts.items()]
    connected = sum(pc.connectionState == "connected" for pc in pcs)
    for pc in pcs:
        await pc.close()
    return {"kind": "whep", "viewers": count, "connected": connected, "mbit_s_each": rates}


def client_main(kind: str, base: str, count: int) -> None:
    result = asyncio.run(flv_clients(base, count) if kind == "flv" else whep_clients(base, count))
    print(json.dumps(result), flush=True)


# --- the bench -------------------------------------------------------------------------------


class Step:
    """One measured step: the server's CPU (all threads, and the event loop's thread) and state."""

    def __init__(self, name: str, server: BenchServer) -> None:
        self.name, self.server = name, server

    def _sample(self) -> tuple[dict[str, Any], float, float, float]:
        pid = self.server.pid
        return self.server.state(), self.server.cpu_seconds(), self.server.cpu_seconds(pid), time.monotonic()

    def __enter__(self) -> Step:
        self.before, self.cpu0, self.main0, self.t0 = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        self.after, self.cpu1, self.main1, self.t1 = self._sample()

    def result(self) -> dict[str, Any]:
        dt = self.t1 - self.t0
        b, a = self.before["mixer"], self.after["mixer"]
        outputs = self.after["outputs"]
        return {
            "step": self.name,
            "on_air": a["on_air"],
            "seconds": round(dt, 1),
            "server_cores": round((self.cpu1 - self.cpu0) / dt, 4),
            "loop_thread_cores": round((self.main1 - self.main0) / dt, 4),
            "program_fps": round((a["ticks"] - b["ticks"]) / dt, 2),
            "encoded_fps": round((a["encoded_frames"] - b["encoded_frames"]) / dt, 2),
            "late_ticks": a["late_ticks"] - b["late_ticks"],
            "encoder_dropped": a["encoder_dropped"] - b["encoder_dropped"],
            "flv_readers": outputs["flv"]["readers"],
            "flv_dropped_readers": outputs["flv"]["dropped_readers"],
            "whep_viewers": outputs["whep"]["connected_viewers"],
            "whep_dropped_packets": outputs["whep"]["dropped_packets"],
            "forced_keyframes": outputs["whep"]["forced_keyframes"],
            "stream_mbit_s": round(outputs["flv"]["bitrate_bps"] / 1e6, 2),
        }


def start_clients(kind: str, port: int, count: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--client", kind, "--url", f"http://127.0.0.1:{port}", "--count", str(count)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError(f"{kind} clients did not start: {line!r}")
    return proc


def stop_clients(proc: subprocess.Popen[str]) -> dict[str, Any]:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return dict(json.loads(out.strip().splitlines()[-1]))


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from rooms.syntheticstudio import spawn_studio

    width, height = (int(x) for x in args.size.split("x"))
    results: list[dict[str, Any]] = []
    extra = f"video_bitrate = {args.bitrate}\n[shows.outputs]\nwhep_max_viewers = 1000"
    log = open(args.server_log, "w") if args.server_log else subprocess.DEVNULL  # noqa: SIM115
    with (
        tempfile.TemporaryDirectory(prefix="fanout-") as tmp,
        BenchServer(Path(tmp), 1, width, height, args.fps, show_extra=extra, log=log) as server,
    ):
        clients: list[subprocess.Popen[str]] = []
        studio: subprocess.Popen[bytes] | None = None

        def online() -> bool:
            return bool(server.state()["studios"][0]["online"])

        def fresh_studio() -> subprocess.Popen[bytes]:
            # A new publisher per step, so each step starts from a fresh session.
            nonlocal studio
            if studio is not None:
                studio.terminate()
                studio.wait(10)
                while online():
                    time.sleep(0.1)
            studio = spawn_studio(
                server.whip_url("s0"),
                server.token("s0"),
                "Studio 0",
                width=width,
                height=height,
                fps=args.fps,
                bitrate=args.bitrate,
                verbose=False,
            )
            while not online():
                time.sleep(0.1)
            server.api("/api/shows/bench/cut", {"studio": "s0"})
            time.sleep(3)  # warm-up: decoder, encoder rate control, clients settle
            return studio

        try:
            fresh_studio()
            with Step("baseline (HLS only)", server) as step:
                time.sleep(args.seconds)
            results.append(step.result())
            for kind, count, label in (("flv", args.flv, "FLV readers"), ("whep", args.whep, "WHEP viewers")):
                if not count:
                    continue
                clients.append(start_clients(kind, server.port, count))
                fresh_studio()
                with Step(f"+{count} {label}", server) as step:
                    time.sleep(args.seconds)
                results.append(step.result())
            for proc in reversed(clients):
                results.append({"clients": stop_clients(proc)})
            clients.clear()
        finally:
            for proc in clients:
                proc.kill()
            if studio is not None:
                studio.terminate()
                studio.wait(10)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--flv", type=int, default=50, help="HTTP-FLV readers")
    p.add_argument("--whep", type=int, default=50, help="WHEP viewers")
    p.add_argument("--seconds", type=float, default=15, help="length of each measured step (< 25)")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--bitrate", type=int, default=2_500_000)
    p.add_argument("--server-log", help="write the server's output to this file")
    p.add_argument("--client", choices=("flv", "whep"), help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.client:
        client_main(args.client, args.url, args.count)
        return
    results = run(args)
    steps = [r for r in results if "step" in r]
    for r in results:
        if "clients" in r:  # one line per kind: the spread of what each reader/viewer received
            each = sorted(r["clients"].pop("mbit_s_each")) or [0.0]
            r["clients"]["mbit_s_min_median_max"] = [each[0], each[len(each) // 2], each[-1]]
        print(json.dumps(r))
    base = steps[0]["server_cores"]
    if args.flv:
        flv = steps[1]
        print(f"per FLV reader: {100 * (flv['server_cores'] - base) / args.flv:.3f} % of a core")
        base = flv["server_cores"]
    if args.whep:
        whep = steps[-1]
        print(f"per WHEP viewer: {100 * (whep['server_cores'] - base) / args.whep:.3f} % of a core")


if __name__ == "__main__":
    main()
