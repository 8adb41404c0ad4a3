"""Broadcast delay (延播) and dump through the whole server: two aiortc studios (green, red),
the pull outputs delayed, the HTTP-FLV output read as a CDN would with each tag's arrival
time, decoded and checked: a cut at t reaches the output at t + delay, the crew sees how far
behind each output is, and a dump puts the slate where the mistake would have aired."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest

from tests.conftest import Server, make_config, serve
from tests.flvpull import FlvPull
from tests.mediacheck import classify, without_cue_points
from tests.metricstext import sample
from tests.mixer.test_timedmetadata_e2e import SECRET, Receiver
from tests.mixer.test_timedmetadata_e2e import receiver as receiver  # a fixture
from tests.whipclient import AiortcPublisher

BASE = "/api/shows/test-show"


def timed_video(pull: FlvPull) -> list[tuple[int, float, str]]:
    """(timestamp ms, arrival UNIX s, colour) of every decoded video frame the pull got."""
    data, ends = bytes(pull.data), pull.arrivals
    arrival: dict[int, float] = {}  # video tag timestamp -> when its last byte came
    pos, k = 13, 0
    while pos + 11 <= len(data):
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        end = pos + 11 + size
        if end > len(data):
            break
        ts = int.from_bytes(data[pos + 4 : pos + 7], "big") | (data[pos + 7] << 24)
        while ends[k][0] < end:
            k += 1
        if data[pos] == 9:
            arrival.setdefault(ts, ends[k][1])
        pos = end + 4
    with av.open(io.BytesIO(without_cue_points(data)), format="flv") as container:
        return [(int(f.pts), arrival[int(f.pts)], classify(f)) for f in container.decode(video=0)]


async def _start(tmp_path: Path, aiohttp_server: Any, delay: float, hook: str = "") -> Server:
    webhook = {"webhook_url": hook, "webhook_secret": SECRET} if hook else {}
    outputs = {"hls_segment_seconds": 1.0, "hls_window": 6, "delay_s": delay}
    config = make_config(tmp_path, outputs=outputs, **webhook)
    return await serve(aiohttp_server, config)


@contextlib.asynccontextmanager
async def _on_air(server: Server) -> AsyncIterator[FlvPull]:
    """Studios alpha (green) and bravo (red) sending, the FLV pulled as a CDN would, alpha on air.

    The pull ends with the block (its frames: :func:`timed_video`), then the studios.
    """
    alpha = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "green")
    bravo = AiortcPublisher(server.url, "test-show", "bravo", server.token("bravo"), "red", hz=440)
    pull = FlvPull(f"{server.url}/live/test-show.flv")
    try:
        await alpha.start()
        await bravo.start()

        def sending(s: dict[str, Any]) -> bool:
            return all(((st["stats"] or {}).get("video_frames", 0)) > 10 for st in s["studios"])

        await server.wait_for(sending)
        pull.start()
        assert (await server.api("POST", f"{BASE}/cut", json={"studio": "alpha"}))[0] == 200
        yield pull
        await pull.stop()
    finally:
        pull.cancel()
        await alpha.stop()
        await bravo.stop()


OnAir = Callable[[float], contextlib.AbstractAsyncContextManager[tuple[Server, FlvPull, Receiver]]]


@pytest.fixture
def on_air(tmp_path: Path, aiohttp_server: Any, receiver: tuple[Receiver, str]) -> OnAir:
    """``on_air(delay)``: the show with its pull outputs ``delay`` s behind live and its webhook
    sent to ``receiver``, on air as :func:`_on_air` puts it; yields (server, pull, the webhook's receiver)."""
    rx, hook = receiver

    @contextlib.asynccontextmanager
    async def start(delay: float) -> AsyncIterator[tuple[Server, FlvPull, Receiver]]:
        server = await _start(tmp_path, aiohttp_server, delay, hook)
        async with _on_air(server) as pull:
            yield server, pull, rx

    return start


async def test_a_cut_reaches_the_delayed_output_after_the_delay(on_air: OnAir) -> None:
    delay = 2.0
    async with on_air(delay) as (server, pull, rx):
        await asyncio.sleep(delay + 1.5)
        before = time.time()
        assert (await server.api("POST", f"{BASE}/cut", json={"studio": "bravo"}))[0] == 200
        after = time.time()
        _, state = await server.api("GET", f"{BASE}")
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/metrics") as res:
            metrics = await res.text()
        card_at = time.time()
        assert (await server.api("POST", f"{BASE}/cards", json={"product": "soup", "slot": "main"}))[0] == 200
        await asyncio.sleep(delay + 1.5)
    # The crew sees each delayed output and how far behind live it is.
    delays = state["delays"]
    assert set(delays) == {"hls", "flv", "whep", "webhook"}, delays
    for row in delays.values():
        assert row["delay_s"] == delay
        assert delay - 0.2 <= row["behind_s"] <= delay + 0.5, delays
    assert sample(metrics, "broadcast_output_delay_seconds", show="test-show", output="flv") == 2.0
    assert sample(metrics, "broadcast_output_behind_seconds", show="test-show", output="hls") is not None
    frames = await asyncio.to_thread(timed_video, pull)
    red = [at for _, at, colour in frames if colour == "red"]
    assert red, "the cut never reached the output"
    assert [c for _, _, c in frames if c != "other"][0] == "green"
    # The first red frame arrives one delay after the cut (plus encode and delivery: a frame or a few
    # on a quiet box; up to 1.5 s allowed for a loaded one, still short of a second delay).
    assert before + delay - 0.05 <= red[0] <= after + delay + 1.5, (red[0] - before, red[0] - after)
    # The webhook follows the delayed timeline: the card's cue airs (and is sent) one delay later.
    shown = [json.loads(body) for _, body, status in rx.calls if b"card.shown" in body]
    assert shown, rx.calls
    assert delay - 0.05 <= shown[0]["aired_at"] - card_at <= delay + 1.0, shown[0]["aired_at"] - card_at


async def test_dump_puts_the_slate_where_the_mistake_would_have_aired(on_air: OnAir) -> None:
    delay = 4.0
    async with on_air(delay) as (server, pull, rx):
        # A card on and off while all is well (this also renders it once: the next show is quick).
        assert (await server.api("POST", f"{BASE}/cards", json={"product": "soup", "slot": "main"}))[0] == 200
        assert (await server.api("DELETE", f"{BASE}/cards/main"))[0] == 200
        await asyncio.sleep(delay + 1.0)
        # The mistake: red on air for a second, then the crew cuts away and dumps.
        mistake_at = time.time()
        assert (await server.api("POST", f"{BASE}/cut", json={"studio": "bravo"}))[0] == 200
        # ... with a wrong card: its cue must not reach the commerce back-end either.
        assert (await server.api("POST", f"{BASE}/cards", json={"product": "soup", "slot": "main"}))[0] == 200
        await asyncio.sleep(1.0)
        assert (await server.api("POST", f"{BASE}/cut", json={"studio": "alpha"}))[0] == 200
        status, body = await server.api("POST", f"{BASE}/dump")
        dumped_at = time.time()
        assert dumped_at - mistake_at < delay - 0.5, "the machine was too slow for this test's timing"
        assert status == 200, body
        assert body["dumped"]["flv"] > 0 and body["dumped"]["hls"] > 0, body
        await asyncio.sleep(delay + 2.0)
        _, events = await server.api("GET", f"{BASE}/events")
    frames = await asyncio.to_thread(timed_video, pull)
    colours = [c for _, _, c in frames]
    assert "red" not in colours, "the mistake aired"
    # Green, then the slate for the dumped seconds (right from the dump), then green again.
    runs: list[tuple[str, int]] = []
    for c in colours:
        runs = runs[:-1] + [(c, runs[-1][1] + 1)] if runs and runs[-1][0] == c else [*runs, (c, 1)]
    slate = [(i, at) for i, (_, at, c) in enumerate(frames) if c == "other" and at > dumped_at - 1]
    assert slate, runs
    assert slate[0][1] - dumped_at < 1.5, "the slate airs at once"  # not after the 4 s delay; load adds delivery time
    assert len(slate) >= 25 * (delay - 1.5), runs  # about the delay's worth of frames (minus the cut)
    assert colours[-1] == "green", runs
    # The frames' timestamps stay continuous through the dump (same timeline: no hole of the
    # dumped seconds; a loaded machine's encoder may drop a few frames, never seconds).
    ts = [t for t, _, _ in frames]
    assert max(b - a for a, b in zip(ts, ts[1:], strict=False)) <= 1000
    # The webhook: the dumped card never announced, the dump instead (after the 500's retry).
    delivered = [json.loads(body)["event"] for _, body, status in rx.calls if status == 200]
    assert delivered == ["card.shown", "card.hidden", "broadcast.dumped"], rx.calls
    # Audit trail: who and when.
    dumps = [e for e in events["events"] if e["kind"] == "broadcast.dumped"]
    assert len(dumps) == 1 and dumps[0]["actor"], dumps


async def test_a_delay_set_while_live_and_a_clear_409_without_one(server: Server) -> None:
    status, body = await server.api("POST", f"{BASE}/dump")
    assert status == 409, body
    assert "delayed" in body["error"]
    _, state = await server.api("GET", BASE)
    assert state["delays"] == {}  # nothing delayed: the page shows no delay panel
    status, body = await server.api("POST", f"{BASE}/delay", json={"output": "flv", "delay_s": 1.5})
    assert status == 200, body
    assert body["previous_s"] == 0 and body["delay_s"] == 1.5
    await asyncio.sleep(2.5)
    _, state = await server.api("GET", BASE)
    assert list(state["delays"]) == ["flv"], state["delays"]
    assert 1.3 <= state["delays"]["flv"]["behind_s"] <= 2.0, state["delays"]
    status, body = await server.api("POST", f"{BASE}/dump")
    assert status == 200 and body["dumped"]["flv"] > 0, body
    for bad, code in (({"output": "nope", "delay_s": 1}, 404), ({"output": "hls", "delay_s": 61}, 400)):
        status, body = await server.api("POST", f"{BASE}/delay", json=bad)
        assert status == code, body
    _, events = await server.api("GET", f"{BASE}/events")
    changed = [e for e in events["events"] if e["kind"] == "broadcast.delay_changed"]
    assert changed and changed[0]["detail"] == {"output": "flv", "from": 0.0, "to": 1.5}
