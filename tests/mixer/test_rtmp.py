"""RTMP push to a real RTMP server (FFmpeg's listener through PyAV, in its own process).

The destination is added through the API, its listener goes away and comes
back (the output reconnects after its backoff), a second destination that
never answers stays in backoff, and neither disturbs HTTP-FLV or the program.
What each listener received is decoded: constant frame rate, monotonic
timestamps from 0, a keyframe every second, audio.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mixer.encodedpacket import ProgramFormat
from mixer.outputs.rtmpoutput import RtmpOutput, check_rtmp_url, redact
from orchestrator.config import ConfigError
from tests.conftest import Server, make_config, serve
from tests.flvpull import FlvPull
from tests.mediacheck import assert_continuous, decode
from tests.metricstext import sample
from tests.ports import free_port

# Accept one publisher, copy what it sends into an FLV file, stop after `seconds` of video.
LISTENER = r"""
import sys, av
url, path, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
src = av.open(url, "r", format="flv", options={"listen": "1"})
print("connected", flush=True)
out = av.open(path, "w", format="flv")
streams = {s.index: out.add_stream_from_template(s) for s in src.streams if s.type in ("video", "audio")}
first = None
try:
    for packet in src.demux():
        if packet.dts is None or packet.stream.index not in streams:
            continue
        if packet.stream.type == "video":
            t = float(packet.pts * packet.time_base)
            first = t if first is None else first
            if t - first >= seconds:
                break
        packet.stream = streams[packet.stream.index]
        out.mux(packet)
except av.error.FFmpegError as exc:
    print("ended:", exc, flush=True)
out.close()
src.close()
print("done", flush=True)
"""


class Listener:
    def __init__(self, port: int, path: Path, seconds: float) -> None:
        self.path = path
        self.url_port = port
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LISTENER, f"rtmp://127.0.0.1:{port}/live/secret-key", str(path), str(seconds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    async def listening(self, timeout: float = 30.0) -> None:
        """Wait until the listener's socket accepts (LISTEN in /proc/net/tcp), not a fixed time:
        a Python start with PyAV takes 0.2 s on a quiet box and several on a loaded one."""
        port = f":{int(self.url_port):04X} "
        async with asyncio.timeout(timeout):
            while True:
                lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
                if any(f[1].endswith(port.strip()) and f[3] == "0A" for f in (ln.split() for ln in lines)):
                    return
                assert self.proc.poll() is None, "the RTMP listener exited before listening"
                await asyncio.sleep(0.05)

    async def wait(self, timeout: float) -> str:
        out, _ = await asyncio.to_thread(self.proc.communicate, timeout=timeout)
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
async def rtmp_server(tmp_path: Path, aiohttp_server: Any) -> Server:
    config = make_config(tmp_path, outputs={"rtmp_backoff_min": 0.5, "rtmp_backoff_max": 2.0})
    return await serve(aiohttp_server, config)


def _dest(state: dict[str, Any], name: str) -> dict[str, Any]:
    return next(d for d in state["outputs"]["rtmp"] if d["name"] == name)


async def test_push_reconnects_and_never_disturbs_the_rest(rtmp_server: Server, tmp_path: Path) -> None:
    server = rtmp_server
    port, dead_port = free_port(), free_port()
    first = Listener(port, tmp_path / "first.flv", seconds=3)
    pull = FlvPull(f"{server.url}/live/test-show.flv").start()
    flv = pull.data
    second: Listener | None = None
    try:
        await first.listening()
        status, body = await server.api(
            "POST",
            "/api/shows/test-show/outputs/rtmp",
            json={"name": "cdn", "url": f"rtmp://127.0.0.1:{port}/live/secret-key"},
        )
        assert status == 201, body
        assert "secret-key" not in str(body) and body["url"].endswith("/live/****")
        status, _ = await server.api(
            "POST",
            "/api/shows/test-show/outputs/rtmp",
            json={"name": "dead", "url": f"rtmp://127.0.0.1:{dead_port}/a/b"},
        )
        assert status == 201
        status, _ = await server.api(
            "POST", "/api/shows/test-show/outputs/rtmp", json={"name": "cdn", "url": f"rtmp://127.0.0.1:{port}/a/b"}
        )
        assert status == 409
        status, _ = await server.api(
            "POST", "/api/shows/test-show/outputs/rtmp", json={"name": "x", "url": "http://a/b/c"}
        )
        assert status == 400

        await server.wait_for(lambda s: _dest(s, "cdn")["state"] == "live", timeout=10)
        assert "connected" in await first.wait(timeout=15)  # it took 3 s and hung up
        state = await server.wait_for(lambda s: _dest(s, "cdn")["state"] == "backoff", timeout=10)
        assert _dest(state, "cdn")["last_error"]
        await asyncio.sleep(1.0)  # a reconnect attempt or two find nobody listening
        second = Listener(port, tmp_path / "second.flv", seconds=30)
        state = await server.wait_for(
            lambda s: _dest(s, "cdn")["state"] == "live" and _dest(s, "cdn")["connects"] == 2, timeout=10
        )
        await asyncio.sleep(2.5)
        _, listed = await server.api("GET", "/api/shows/test-show/outputs/rtmp")
        status, _ = await server.api("DELETE", "/api/shows/test-show/outputs/rtmp/cdn")
        assert status == 200
        await second.wait(timeout=15)  # the push ended: the listener saw the end of the stream
        _, state = await server.api("GET", "/api/shows/test-show")
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/metrics") as res:
            metrics = await res.text()
        status, _ = await server.api("DELETE", "/api/shows/test-show/outputs/rtmp/cdn")
        assert status == 404
        await pull.stop()
    finally:
        pull.cancel()
        first.kill()
        if second is not None:
            second.kill()

    cdn = next(d for d in listed["destinations"] if d["name"] == "cdn")
    assert cdn["up"] and cdn["bitrate_bps"] > 0 and 18 <= cdn["fps"] <= 35, cdn  # about 30: load drops frames
    assert cdn["attempts"] >= 3 and cdn["errors"] >= 2  # the hang-up, then at least one refused attempt
    assert [d["name"] for d in state["outputs"]["rtmp"]] == ["dead"]
    dead = state["outputs"]["rtmp"][0]
    assert dead["state"] in ("backoff", "connecting") and dead["connects"] == 0 and dead["errors"] >= 2
    assert "secret" not in str(state) and "secret" not in metrics
    assert sample(metrics, "broadcast_output_up", show="test-show", output="rtmp", name="dead") == 0
    assert sample(metrics, "broadcast_output_clients", show="test-show", output="flv", name="flv") == 1
    assert (sample(metrics, "broadcast_output_bitrate_bps", show="test-show", output="hls", name="hls") or 0) >= 1
    assert (sample(metrics, "broadcast_output_errors_total", show="test-show", output="rtmp", name="dead") or 0) >= 1
    # Blocking connects, refusals and hang-ups happen in the destinations' threads, never the clock's:
    # a clock held up by a connect (seconds) would skip well over a second of ticks. Late ticks
    # alone are the shared 2-core machine (18 of 299 seen at load 10), so they are not counted here.
    assert state["mixer"]["skipped_ticks"] <= 30, state["mixer"]

    for path in (tmp_path / "first.flv", tmp_path / "second.flv"):
        got = await asyncio.to_thread(decode, str(path))
        assert got.size == (640, 360)
        assert got.video_pts[0] < 0.1  # each connection's timestamps start at 0
        assert got.keyframes[0] == 0
        assert_continuous(got, 30)
        assert len(got.video_pts) >= 2 * 30
    # HTTP-FLV ran on through the hang-up, the refused attempts and the removal.
    flv_got = await asyncio.to_thread(decode, bytes(flv), "flv")
    assert_continuous(flv_got, 30)
    assert flv_got.video_pts[-1] - flv_got.video_pts[0] > 6


def test_url_checks_and_redaction() -> None:
    assert check_rtmp_url("rtmp://live.example.org/app/KEY123") is None
    assert check_rtmp_url("rtmps://live.example.org:443/app/KEY123") is None
    assert check_rtmp_url("http://x/a/b")
    assert check_rtmp_url("rtmp://x/onlyapp")
    assert check_rtmp_url("rtmp:///a/b")
    assert redact("rtmp://user:pw@live.example.org:1935/app/KEY123") == "rtmp://live.example.org:1935/app/****"
    with pytest.raises(ValueError):
        RtmpOutput("x", "rtmp://nowhere")


def test_closing_a_destination_that_never_connects_is_prompt() -> None:
    port = free_port()
    output = RtmpOutput("gone", f"rtmp://127.0.0.1:{port}/live/k", backoff_min=0.2, backoff_max=0.4)
    output.start(ProgramFormat(width=320, height=180, fps=30))
    time.sleep(0.1)
    t0 = time.monotonic()
    output.close()
    assert time.monotonic() - t0 < 3.0  # not the 5 s join timeout; a wake-up is well under it even when loaded
    assert output.state == "stopped"


def test_config_checks_the_destinations(tmp_path: Path) -> None:
    good = make_config(tmp_path, outputs={"rtmp": [{"name": "cdn-a", "url": "rtmp://live.example.org/app/KEY"}]})
    assert good.shows[0].outputs.rtmp[0].name == "cdn-a"
    with pytest.raises(ConfigError, match=r"shows\[0\]\.outputs\.rtmp\[1\]\.name: duplicate"):
        make_config(
            tmp_path, outputs={"rtmp": [{"name": "a", "url": "rtmp://h/a/k"}, {"name": "a", "url": "rtmp://h/a/k"}]}
        )
    with pytest.raises(ConfigError, match=r"outputs\.rtmp\[0\]\.url: must start with rtmp://"):
        make_config(tmp_path, outputs={"rtmp": [{"name": "a", "url": "srt://h:1/a/k"}]})
    with pytest.raises(ConfigError, match=r"outputs\.rtmp_backoff_min"):
        make_config(tmp_path, outputs={"rtmp_backoff_min": 60.0, "rtmp_backoff_max": 30.0})
    with pytest.raises(ConfigError, match=r"outputs\.recording_rotate_seconds"):
        make_config(tmp_path, outputs={"recording_rotate_seconds": 0.5})
