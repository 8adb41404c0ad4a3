"""Studio ingest in worker processes (``ingest.workers``): real publishers (FFmpeg's WHIP muxer,
aiortc) go through the workers into the program; a worker killed mid-show costs only its
studios for a moment; nothing is left behind (processes, ``/dev/shm``) after the server stops."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from orchestrator.app import create_app
from orchestrator.appkeys import INGEST
from orchestrator.config import Config, ConfigError, Ingest, parse
from rooms.frameslots import NAME_PREFIX
from rooms.ingestpool import IngestPool, worker_count
from tests.conftest import Server, make_config
from tests.flvpull import FlvPull
from tests.mediacheck import assert_continuous, decode
from tests.metricstext import sample
from tests.twostudios import ffmpeg_and_aiortc_studios
from tests.whipclient import AiortcPublisher

API = "/api/shows/test-show"


def shm_segments() -> set[str]:
    """This process's frame slots in /dev/shm (other test runs may be using their own)."""
    return {name for name in os.listdir("/dev/shm") if name.startswith(f"{NAME_PREFIX}{os.getpid()}-")}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead: it only waits for its parent to read its status.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"
    return False


def udp_port_holders(port: int) -> set[int]:
    """Pids of the processes holding the UDP socket bound to ``port`` (this network namespace)."""
    inodes = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    holders = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        holders.add(int(pid))
    return holders


def answer_ports(sdp: str) -> set[int]:
    return {int(line.split()[5]) for line in sdp.splitlines() if line.startswith("a=candidate:")}


def with_workers(config: Config, workers: int | str) -> Config:
    return dataclasses.replace(config, ingest=Ingest(workers=workers))


@contextlib.asynccontextmanager
async def running(config: Config) -> AsyncIterator[tuple[Server, IngestPool]]:
    app = create_app(config)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    try:
        yield Server.of(srv, config), app[INGEST]
    finally:
        await srv.close()


@pytest.fixture
def shm_before() -> set[str]:
    return shm_segments()


def online(state: dict[str, Any], studio: str) -> bool:
    return any(s["id"] == studio and s["online"] for s in state["studios"])


def frames(state: dict[str, Any], studio: str) -> int:
    stats = next(s["stats"] for s in state["studios"] if s["id"] == studio) or {}
    return int(stats.get("video_frames", 0))


async def test_ffmpeg_and_aiortc_studios_through_workers(tmp_path: Path, shm_before: set[str]) -> None:
    """Each studio lands on its own worker; the program follows the cuts between them."""
    async with running(with_workers(make_config(tmp_path), 2)) as (server, pool):
        pids = [w.pid for w in pool.workers]
        assert len(pids) == 2 and all(pid is not None and alive(pid) for pid in pids)
        async with ffmpeg_and_aiortc_studios(server):
            await server.wait_for(lambda s: online(s, "alpha") and online(s, "bravo"), timeout=30)
            await server.wait_for(lambda s: frames(s, "alpha") > 10 and frames(s, "bravo") > 10)
            await server.wait_for(lambda s: all((st["stats"] or {}).get("fps") for st in s["studios"]))
            # least loaded: one studio per worker
            assert sorted(len(w.sessions) for w in pool.workers) == [1, 1]
            _, state = await server.api("GET", API)
            stats = {s["id"]: s["stats"] for s in state["studios"]}
            assert stats["bravo"]["resolution"] == "640x360" and stats["bravo"]["codec"] is not None
            assert stats["alpha"]["fps"] is not None and stats["alpha"]["fps"] > 0  # received rate, from the worker
            async with aiohttp.ClientSession() as http, http.get(f"{server.url}/metrics") as res:
                metrics = await res.text()
            assert sample(metrics, "broadcast_ingest_worker_sessions", worker="0") == 1
            assert sample(metrics, "broadcast_ingest_worker_sessions", worker="1") == 1
            # Until the steps are done: a fixed length raced them on a loaded box.
            recording = FlvPull(f"{server.url}/live/test-show.flv").start()
            async with asyncio.timeout(15):  # the pull's first bytes (late on a loaded box) before the cuts
                while not recording.data:
                    await asyncio.sleep(0.05)
            for studio in ("alpha", "bravo", "alpha"):
                status, _ = await server.api("POST", f"{API}/cut", json={"studio": studio})
                assert status == 200
                await asyncio.sleep(2.5)
            flv = await recording.stop()
    got = await asyncio.to_thread(decode, flv, "flv")
    # Generous: on a loaded machine the encoder drops pictures (never time); the cuts are the point.
    assert_continuous(got, 30, max_missing=0.8, max_hole=2.0)
    runs = [c for c, n in got.after_cached_gop().runs() if n >= 30]  # live, whole seconds
    assert runs[-3:] == ["red", "green", "red"], got.runs()
    # stopped: no worker left, no frame slots left in /dev/shm
    assert not any(alive(pid) for pid in pids if pid is not None)
    assert shm_segments() <= shm_before


async def test_a_killed_worker_costs_its_studio_a_moment_never_the_show(tmp_path: Path, shm_before: set[str]) -> None:
    async with running(with_workers(make_config(tmp_path), 1)) as (server, pool):
        publisher = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "red")
        second: AiortcPublisher | None = None
        recording = FlvPull(f"{server.url}/live/test-show.flv")
        try:
            await publisher.start()
            # the answer's candidates are the worker's own UDP sockets, not the server's
            ports = answer_ports(publisher.pc.remoteDescription.sdp)
            assert ports and all(udp_port_holders(port) == {pool.workers[0].pid} for port in ports)
            await server.wait_for(lambda s: online(s, "alpha") and frames(s, "alpha") > 10, timeout=30)
            assert (await server.api("POST", f"{API}/cut", json={"studio": "alpha"}))[0] == 200
            # Until the steps are done: a fixed length raced the re-join on a loaded box.
            recording.start()
            async with asyncio.timeout(15):  # the pull's first bytes (late on a loaded box)
                while not recording.data:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(3.0)  # past the first GOP (it may be cached): two whole seconds of red live
            victim = pool.workers[0].pid
            assert victim is not None
            os.kill(victim, signal.SIGKILL)
            # the studio goes offline (its session ended with the worker), the show goes on
            await server.wait_for(lambda s: not online(s, "alpha") and s["studios"][0]["stats"] is None, timeout=10)
            assert not alive(victim)
            # a new worker takes the place (once); the publisher re-joins (as the join page does)
            async with asyncio.timeout(15):
                while pool.restarts < 1 or pool.workers[0].pid in (None, victim):
                    await asyncio.sleep(0.05)
            assert pool.restarts == 1 and pool.workers[0].pid != victim
            # Away for longer than fallback_after (1 s), so the program falls back: a studio back
            # sooner keeps its place without one, by design (mixer/fallback.py), and on a quiet box
            # the new worker and the re-join took 0.77 s.
            await server.wait_for(lambda s: s["on_air"] != "alpha", timeout=10)
            await publisher.stop()
            second = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "red")
            await second.start()
            await server.wait_for(lambda s: online(s, "alpha") and frames(s, "alpha") > 10, timeout=30)
            # Back on air once steady (the fallback's return), then whole seconds of red.
            await server.wait_for(lambda s: s["on_air"] == "alpha", timeout=30)
            await asyncio.sleep(2.0)
            flv = await recording.stop()
            _, state = await server.api("GET", API)
            assert state["program"] == "alpha"
        finally:
            recording.cancel()
            await publisher.stop()
            if second is not None:
                await second.stop()
    got = await asyncio.to_thread(decode, flv, "flv")
    # The program never stopped: monotonic, on the frame grid, no hole over 2 s (generous: a loaded
    # machine drops pictures, never time; a stopped show would leave a hole to the end).
    assert_continuous(got, 30, max_missing=0.8, max_hole=2.0)
    # What came live (the recording may open on the GOP cached before the cut), whole seconds.
    colours = [c for c, n in got.after_cached_gop().runs() if n >= 30]
    # Red, the fallback while the studio was away, red again: a subsequence, since the re-joined
    # publisher (in this process) may be starved off air again on a loaded box (seen with two busy
    # loops beside: it returned after 10.8 s and fell back 2 s later); the return is the point.
    assert colours[0] == "red", got.runs()
    away = [i for i, c in enumerate(colours) if c != "red"]
    assert away and "red" in colours[away[0] :], got.runs()
    assert shm_segments() <= shm_before


@pytest.mark.parametrize(
    ("value", "problem"),
    [(-1, "got -1"), ("many", "got 'many'"), (True, "got True"), (1.5, "got 1.5"), (1000, "0-256")],
)
def test_workers_setting_is_checked(value: object, problem: str) -> None:
    config = {
        "server": {"operator_token": "operator-token", "link_secret": "a-link-secret-0123456789"},
        "shows": [],
        "ingest": {"workers": value},
    }
    with pytest.raises(ConfigError) as info:
        parse(config, "show.toml")
    message = str(info.value)
    assert message.startswith('show.toml: ingest.workers: must be "auto"') and problem in message
    assert "\n" not in message


def test_workers_auto_is_one_per_core(tmp_path: Path) -> None:
    assert make_config(tmp_path).ingest.workers == 0  # the default: ingest in the server process
    assert with_workers(make_config(tmp_path), "auto").ingest.workers == "auto"
    assert worker_count("auto") == len(os.sched_getaffinity(0))
    assert worker_count(0) == 0 and worker_count(3) == 3


async def test_join_page_comes_back_by_itself_after_its_worker_is_killed(
    tmp_path: Path, aiohttp_server: Any, shm_before: set[str]
) -> None:
    """A host's browser (Chromium's join page) through a worker; the worker is SIGKILLed: the
    page sees its session end and re-joins by itself, on the new worker, without crew action."""
    from tests import chromium
    from tests.test_join_page import JoinServer, _frames_of, _joined_page

    if not chromium.available():
        pytest.skip("chromium is not installed")
    srv = await aiohttp_server(create_app(with_workers(make_config(tmp_path), 1)), host="127.0.0.1")
    server = JoinServer(str(srv.make_url("")).rstrip("/"), srv.app)
    pool = srv.app[INGEST]
    async with chromium.Chromium(lang="en-US") as browser:
        page = await _joined_page(browser, server)
        first = await _frames_of(server, "alpha", lambda s: s.get("video_frames", 0) > 10)
        assert (await server.api("POST", f"{API}/cut", json={"studio": "alpha"}))[0] == 200
        await page.wait_for("hostPage.tally === 'program'")
        victim = pool.workers[0].pid
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        await page.wait_for("hostPage.reconnects >= 1", timeout=15)
        await page.wait_for("hostPage.conn === 'connected' && !hostPage.reconnecting", timeout=30)
        back = await _frames_of(
            server, "alpha", lambda s: s.get("session") != first["session"] and s.get("video_frames", 0) > 10
        )
        assert back["state"] == "connected"
        assert pool.workers[0].pid != victim and pool.restarts == 1
        await page.wait_for("hostPage.tally === 'program'")  # still on air: nobody re-cut
    await srv.close()
    assert shm_segments() <= shm_before


BAD_CODEC_OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\na=rtpmap:96 XYZ/90000\r\n"
)


async def test_offers_a_worker_cannot_answer_are_400s_that_leave_nothing(tmp_path: Path, shm_before: set[str]) -> None:
    async with running(with_workers(make_config(tmp_path), 1)) as (server, pool):
        headers = {"Authorization": f"Bearer {server.token('alpha')}", "Content-Type": "application/sdp"}
        async with aiohttp.ClientSession() as http:
            for body, reason in (("hello", "must start with v=0"), (BAD_CODEC_OFFER, "cannot answer this sdp offer")):
                async with http.post(f"{server.url}/whip/test-show/alpha", data=body, headers=headers) as res:
                    text = await res.text()
                    assert res.status == 400, text
                    assert reason in text.lower(), text
        assert all(not w.sessions for w in pool.workers)
        assert shm_segments() <= shm_before
        _, state = await server.api("GET", API)
        assert state["studios"][0]["stats"] is None
