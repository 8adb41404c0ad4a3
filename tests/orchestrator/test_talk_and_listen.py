"""Talk and listen with real peers: return feeds (mix-minus + return picture) and talkback.

Two aiortc publishers send distinct tones (alpha 440 Hz, bravo 1000 Hz) side by side on
air; aiortc return-feed clients decode what each host hears; an aiortc "operator" sends
a 2000 Hz tone as talkback; an audio-only WHEP listener decodes the program.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiortc import RTCPeerConnection

from orchestrator.config import parse
from tests.conftest import OPERATOR, Server, make_config, serve
from tests.metricstext import sample
from tests.returnclient import Listener, Talker, tone_db
from tests.whipclient import AiortcPublisher, ToneTrack

A_HZ, B_HZ, TALK_HZ = 440, 1000, 2000
PRODUCER, LINKS = "producer-token-1", "links-token-12"


@pytest.fixture
async def roles_server(tmp_path: Path, aiohttp_server: Any) -> Server:
    base = make_config(tmp_path)
    raw: dict[str, Any] = {
        "server": {
            "operator_token": OPERATOR,
            "link_secret": "test-link-secret-0123456789",
            "ice_hosts": ["127.0.0.1"],
            "data_dir": str(tmp_path / "data"),
            "operators": [
                {"name": "chen", "role": "producer", "token": PRODUCER},
                {"name": "wang", "role": "links", "token": LINKS},
            ],
        },
        "shows": [
            {
                "id": "test-show",
                "title": base.shows[0].title,
                "width": 640,
                "height": 360,
                "fps": 30,
                "video_bitrate": 1_000_000,
                "studios": [
                    {"id": "alpha", "name": "Alpha"},
                    {"id": "bravo", "name": "Bravo"},
                    {"id": "charlie", "name": "Charlie"},
                ],
                "outputs": {"hls": False, "flv": False},
            }
        ],
    }
    config = parse(raw, "test-config")
    return await serve(aiohttp_server, config)


async def _on_air_side_by_side(server: Server) -> list[AiortcPublisher]:
    pubs = [
        AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "red", hz=A_HZ),
        AiortcPublisher(server.url, "test-show", "bravo", server.token("bravo"), "blue", hz=B_HZ),
    ]
    for pub in pubs:
        await pub.start()
    await server.wait_for(lambda s: all(st["online"] for st in s["studios"] if st["id"] in ("alpha", "bravo")))
    status, _ = await server.api(
        "POST", "/api/shows/test-show/layout", json={"layout": "side-by-side", "studios": ["alpha", "bravo"]}
    )
    assert status == 200
    status, _ = await server.api("POST", "/api/shows/test-show/take", json={"transition": "cut"})
    assert status == 200
    return pubs


def _levels(listener: Listener, since: float) -> dict[int, float]:
    """Each tone's level: the median over 0.2 s blocks (a block lost to an underrun on a loaded
    machine does not drag the figure down)."""
    samples = listener.samples(since)
    block = 9600
    blocks = [samples[i : i + block] for i in range(0, len(samples) - block + 1, block)] or [samples]
    return {hz: float(np.median([tone_db(b, hz) for b in blocks])) for hz in (A_HZ, B_HZ, TALK_HZ)}


async def test_return_feed_is_the_program_minus_the_hosts_own_voice(server: Server) -> None:
    pubs = await _on_air_side_by_side(server)
    ret = Listener(f"{server.url}/return/test-show/alpha", server.token("alpha"))
    try:
        await ret.start()
        _, status = await server.api("GET", "/api/shows/test-show/talkback")
        assert status["returns"] == 1 and status["picture"]["running"]
        await asyncio.sleep(2.0)
        since = time.monotonic()
        await asyncio.sleep(2.5)
        levels = _levels(ret, since)
        # bravo's tone (8000/32767: -12 dBFS, side by side at unity) is there; alpha's own is not.
        assert levels[B_HZ] > -25, levels
        assert levels[A_HZ] < levels[B_HZ] - 40, levels
        # The shared return picture: the program scaled to 480 on the long side.
        assert ret.video_frames > 20 and ret.sizes == {(480, 270)}, (ret.video_frames, ret.sizes)
        async with aiohttp.ClientSession() as http, http.get(server.url + "/metrics") as res:
            metrics = await res.text()
        assert sample(metrics, "broadcast_return_feeds", show="test-show") == 1
    finally:
        await ret.stop(server.url)
        for pub in pubs:
            await pub.stop()
    # The last return gone: the shared encodes stop.
    async with asyncio.timeout(10):
        while True:
            _, status = await server.api("GET", "/api/shows/test-show/talkback")
            if status["returns"] == 0 and not status["picture"]["running"] and status["audio"] is None:
                break
            await asyncio.sleep(0.1)


async def test_return_feed_refusals(server: Server) -> None:
    url = f"{server.url}/return/test-show/alpha"
    # Before the studio joined: 409.
    early = Listener(url, server.token("alpha"))
    await early.start(expect=409)
    pub = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "red")
    await pub.start()
    try:
        # Another studio's token: 403, and no token: 401.
        other = Listener(url, server.token("bravo"))
        await other.start(expect=403)
        anonymous = Listener(url)
        await anonymous.start(expect=401)
        headers = {"Authorization": f"Bearer {server.token('alpha')}", "Content-Type": "application/sdp"}
        async with aiohttp.ClientSession() as http:
            for bad in (
                "hello",
                "v=0\r\n",
                "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
            ):
                async with http.post(url, data=bad, headers=headers) as res:
                    assert res.status == 400, (bad, res.status, await res.text())
                    assert "error" in await res.json()
            async with http.post(url, data="v=0", headers={**headers, "Content-Type": "text/plain"}) as res:
                assert res.status == 415
        # A send-only offer (a return only sends): 400.
        pc = RTCPeerConnection()
        pc.addTransceiver(ToneTrack(300), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=pc.localDescription.sdp, headers=headers) as res,
        ):
            assert res.status == 400, await res.text()
        await pc.close()
    finally:
        await pub.stop()


async def test_talkback_reaches_only_its_target_and_never_the_program(roles_server: Server) -> None:
    server = roles_server
    pubs = await _on_air_side_by_side(server)
    a = Listener(f"{server.url}/return/test-show/alpha", server.token("alpha"), video=False)
    b = Listener(f"{server.url}/return/test-show/bravo", server.token("bravo"), video=False)
    program = Listener(f"{server.url}/whep/test-show", video=False)
    producer = {"Authorization": f"Bearer {PRODUCER}"}
    talker = Talker(server.url, "test-show", producer, ToneTrack(TALK_HZ))
    try:
        for peer in (a, b, program):
            await peer.start()
        await talker.start()
        await asyncio.sleep(2.0)
        before = time.monotonic()
        await asyncio.sleep(1.5)
        quiet = _levels(a, before)
        assert quiet[TALK_HZ] < -50, quiet  # connected but not keyed: nobody hears it
        # The links role may not talk; nobody keys another operator's talkback.
        async with aiohttp.ClientSession() as http:
            links = {"Authorization": f"Bearer {LINKS}"}
            async with http.post(talker.url, data="v=0", headers={**links, "Content-Type": "application/sdp"}) as res:
                assert res.status == 403
            async with http.post(server.url + talker.location, json={"on": True}, headers=server.auth) as res:
                assert res.status == 404
            async with http.post(
                server.url + talker.location, json={"on": True, "targets": ["nobody"]}, headers=producer
            ) as res:
                assert res.status == 400
        status, view = await talker.key(True, ["alpha"])
        assert status == 200 and view["targets"] == ["alpha"], view
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{server.url}/host/{server.token('alpha')}/ws") as ws,
        ):
            async with asyncio.timeout(5):
                while True:
                    msg = await ws.receive_json()
                    if msg["type"] == "state":
                        assert msg["talkback"] == ["chen"], msg
                        break
        await asyncio.sleep(1.0)
        during = time.monotonic()
        await asyncio.sleep(2.0)
        la, lb, lp = _levels(a, during), _levels(b, during), _levels(program, during)
        assert la[TALK_HZ] > -30, la  # the target hears the operator (8000/32767: -12 dBFS)
        # The other studio and the program do not (what is left there is codec noise, 40+ dB down).
        assert lb[TALK_HZ] < min(-50, la[TALK_HZ] - 35), (la, lb)
        assert lp[TALK_HZ] < min(-50, la[TALK_HZ] - 35), (la, lp)
        assert lp[A_HZ] > -40 and lp[B_HZ] > -40, lp  # the program goes on as before
        # The target's program sound is ducked under the voice (-15 dB), the other's is not: each
        # against the same studio in the program at the same time (its sound is in both, undimmed there).
        assert la[B_HZ] < lp[B_HZ] - 8, (la, lp)
        assert lb[A_HZ] > lp[A_HZ] - 5, (lb, lp)
        status, view = await talker.key(False)
        assert status == 200 and not view["on"]
        _, state = await server.api("GET", "/api/shows/test-show/talkback")
        assert state["talkbacks"] == 1 and state["talkbacks_open"] == 0 and state["returns"] == 2
    finally:
        await talker.stop()
        for peer in (a, b, program):
            await peer.stop(server.url)
        for pub in pubs:
            await pub.stop()


def _counts() -> tuple[int, int, int]:
    threads = [t for t in threading.enumerate() if not t.name.startswith("asyncio_")]
    pcs = sum(1 for o in gc.get_objects() if isinstance(o, RTCPeerConnection))
    return len(asyncio.all_tasks()), len(threads), pcs


CYCLES = int(os.environ.get("LEAK_CYCLES", "50"))


async def test_return_and_talkback_cycles_leak_nothing(server: Server) -> None:
    pub = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "red")
    await pub.start()

    async def cycle() -> None:
        ret = Listener(f"{server.url}/return/test-show/alpha", server.token("alpha"))
        talker = Talker(server.url, "test-show", server.auth, ToneTrack(TALK_HZ))
        await ret.start()
        await talker.start()
        assert (await talker.key(True, ["alpha"]))[0] == 200
        await ret.stop(server.url)
        await talker.stop()

    try:
        for _ in range(2):
            await cycle()
        await asyncio.sleep(1)
        gc.collect()
        base = _counts()
        t0 = time.monotonic()
        for _ in range(CYCLES):
            await cycle()
        spent = time.monotonic() - t0
        deadline = time.monotonic() + 15
        while True:
            gc.collect()
            now = _counts()
            _, status = await server.api("GET", "/api/shows/test-show/talkback")
            if (
                all(n <= m for n, m in zip(now, base, strict=True)) and status["returns"] == 0
            ) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        print(f"\n{CYCLES} return+talkback cycles in {spent:.1f} s: (tasks, threads, peer connections) {base} -> {now}")
        assert now[0] <= base[0] + 1, (base, now)
        assert now[1] <= base[1], (base, now)
        assert now[2] <= base[2], (base, now)
        assert status["returns"] == 0 and status["talkbacks"] == 0 and not status["picture"]["running"], status
        assert status["returns_total"] >= CYCLES and status["talkbacks_total"] >= CYCLES
    finally:
        await pub.stop()
