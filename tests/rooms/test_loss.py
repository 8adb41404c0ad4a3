"""A studio on a lossy network (issue 9, observation 1), with real peers: an aiortc WHIP
publisher drawing a numbered moving picture, the server's ICE sockets impaired by the
seeded harness (tests/netimpair.py). The studio keeps decoding and stays on program, loss
is reported, keyframe requests are sent, answered and rate-limited, freezes are counted,
and no decoded picture is ever broken."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket

from orchestrator.app import create_app
from orchestrator.appkeys import SHOWS
from rooms.whipsession import WhipSession
from tests.conftest import Server, make_config
from tests.netimpair import NetImpair, Profile
from tests.whipclient import PatternChecker, PatternTrack, ToneTrack, TrackPublisher

STUDIO = "alpha"
# Round trips like a provincial link: 20 ms +-10 each way.
WAN = {"delay_ms": 20.0, "jitter_ms": 10.0}


class Studio:
    """A running publisher, its server session, the impairment on it and what the mixer got."""

    def __init__(self, server: Server, app: Any, impair: NetImpair) -> None:
        self.server, self.app, self.impair = server, app, impair
        self.publisher = TrackPublisher(
            server.url, "test-show", STUDIO, server.token(STUDIO), PatternTrack(640, 360), ToneTrack(440)
        )
        self.checker = PatternChecker(every=3)
        self.frame_times: list[float] = []
        self.session: WhipSession | None = None
        self.runner = app[SHOWS]["test-show"]

    async def __aenter__(self) -> Studio:
        await self.publisher.start(timeout=20)
        async with asyncio.timeout(10):
            while STUDIO not in self.runner.sessions:
                await asyncio.sleep(0.05)
        self.session = session = self.runner.sessions[STUDIO]
        push = session.feed.push_video

        def push_video(frame: av.VideoFrame) -> None:
            self.frame_times.append(time.monotonic())
            self.checker.push(frame)
            push(frame)

        session.feed.push_video = push_video  # type: ignore[method-assign]
        self.impair.attach(session)
        # What the publisher's video sender is asked for: keyframe requests (RTCP PSFB PLI/FIR).
        self.keyframe_requests_received = 0
        sender = next(t.sender for t in self.publisher.pc.getTransceivers() if t.kind == "video")
        handle = sender._handle_rtcp_packet

        async def handle_rtcp(packet: Any) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                self.keyframe_requests_received += 1
            await handle(packet)

        sender._handle_rtcp_packet = handle_rtcp  # type: ignore[method-assign]
        async with asyncio.timeout(30):
            while len(self.frame_times) < 30:
                await asyncio.sleep(0.1)
        status, _ = await self.server.api("POST", "/api/shows/test-show/cut", json={"studio": STUDIO})
        assert status == 200
        async with asyncio.timeout(10):
            while self.runner.program.on_air != STUDIO:
                await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.checker.stop()
        await self.publisher.stop()

    def stats(self) -> dict[str, Any]:
        assert self.session is not None
        return self.session.stats()

    async def watch(self, seconds: float) -> list[str | None]:
        """What the program showed, every 50 ms, for ``seconds``."""
        shown: list[str | None] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            shown.append(self.runner.program.on_air)
            await asyncio.sleep(0.05)
        return shown

    def fps_windows(self, start: float, end: float) -> list[int]:
        return [sum(1 for t in self.frame_times if start + i <= t < start + i + 1) for i in range(int(end - start))]


async def _server(tmp_path: Path, aiohttp_server: Any, **show: Any) -> tuple[Server, Any]:
    config = make_config(tmp_path, **show)
    srv = await aiohttp_server(create_app(config), host="127.0.0.1")
    return Server.of(srv, config), srv.app


async def test_five_percent_video_loss_keeps_the_studio_decoding_on_program(
    tmp_path: Path, aiohttp_server: Any
) -> None:
    server, app = await _server(tmp_path, aiohttp_server)  # fallback_after 1 s (the default)
    impair = NetImpair(seed=5, up=Profile(loss=0.05, only="video", **WAN), down=Profile(**WAN))
    async with Studio(server, app, impair) as studio:
        start = time.monotonic()
        shown = await studio.watch(15)
        end = time.monotonic()
        stats = studio.stats()
        async with aiohttp.ClientSession() as http, http.get(server.url + "/metrics") as res:
            metrics = await res.text()
        _, state = await server.api("GET", "/api/shows/test-show")

    fps = studio.fps_windows(start, end)
    dropped = impair.up.stats["dropped"]
    assert dropped > 30, impair.up.stats  # the harness did drop ~5 % of the video
    # The program never left the studio (no fallback to the slate), and its picture kept moving.
    assert set(shown) == {STUDIO}, shown
    assert statistics.median(fps) >= 20, fps
    inside = [t for t in studio.frame_times if start <= t <= end]
    longest = max(b - a for a, b in zip([start, *inside], [*inside, end], strict=False))
    assert longest < 1.0, (longest, fps)  # never as long as fallback_after without a picture
    # Every checked picture is exactly what the publisher drew.
    assert studio.checker.checked > 100 and studio.checker.broken == 0, vars(studio.checker)
    # Loss is reported near the injected rate (video only here; audio was not impaired).
    # Counted against what the harness dropped (fewer packets are sent on a loaded box: 48 lost
    # there against 64 of 79 dropped on a quiet one; a dropped retransmission is not a new loss).
    assert stats["packets_lost"] > dropped // 2, (dropped, stats)
    assert 0 < 100 * stats["packets_lost"] / stats["packets_expected"] < 10, stats
    # The per-second figures are reported; their values are one second's sample, which a loaded
    # box skews (18.5 % in one second of this 5 % loss at load ~4): their mean is tested below.
    assert stats["video_packet_loss_pct"] is not None and stats["packet_loss_pct"] is not None, stats
    assert stats["nacks_sent"] > 20 and stats["packets_repaired"] > 50, stats
    assert stats["frames_received"] > 300 and stats["decoded_fps"] is not None, stats
    assert stats["jitter_ms"] is not None and stats["jitter_ms"] > 0
    studio_state = next(s for s in state["studios"] if s["id"] == STUDIO)
    assert studio_state["stats"]["nacks_sent"] > 0
    assert 'broadcast_studio_packet_loss_percent{show="test-show",studio="alpha"}' in metrics
    assert 'broadcast_studio_nacks_total{show="test-show",studio="alpha"}' in metrics


async def test_video_loss_is_reported_at_the_injected_rate(tmp_path: Path, aiohttp_server: Any) -> None:
    """Was 0.0 under 5 % loss: aiortc files the RTX stream's counters over the video's."""
    server, app = await _server(tmp_path, aiohttp_server)
    impair = NetImpair(seed=11, up=Profile(loss=0.05, **WAN), down=Profile(**WAN))  # audio and video
    async with Studio(server, app, impair) as studio:
        samples = []
        for _ in range(10):
            await asyncio.sleep(1.0)
            samples.append(studio.stats()["packet_loss_pct"])
        stats = studio.stats()
    injected = 100 * impair.up.stats["dropped"] / max(impair.up.stats["impaired"], 1)
    measured = 100 * stats["packets_lost"] / stats["packets_expected"]
    assert 3.0 < injected < 7.0
    assert abs(measured - injected) < 1.5, (measured, injected)
    assert 2.0 < statistics.mean(s for s in samples if s is not None) < 8.0, samples


async def test_an_outage_freezes_on_the_last_good_picture_and_a_keyframe_request_ends_it(
    tmp_path: Path, aiohttp_server: Any
) -> None:
    server, app = await _server(tmp_path, aiohttp_server, fallback_after=5.0)
    impair = NetImpair(seed=3, up=Profile(**WAN), down=Profile(**WAN))
    async with Studio(server, app, impair) as studio:
        await asyncio.sleep(2)
        before = studio.stats()
        impair.up.outage = True  # the studio's uplink drops: the publisher keeps sending into the void
        await asyncio.sleep(3.0)  # more packets than aiortc's sender keeps for retransmission (128)
        impair.up.outage = False
        back = time.monotonic()
        await studio.watch(4)
        after = studio.stats()

    # The freeze is counted, with its length.
    assert after["freezes"] >= before["freezes"] + 1, after
    assert after["longest_freeze_ms"] >= 2500, after
    assert after["freeze_ms"] - before["freeze_ms"] >= 2500, after
    # More was lost than NACK could repair (aiortc's sender keeps 128 packets): the stream
    # restarted on a keyframe (asked for, unless aiortc's encoder sent one by itself on a
    # bitrate change), and the picture moved again soon after the network did.
    assert after["gaps_skipped"] > before["gaps_skipped"], after
    assert after["keyframes_received"] > before["keyframes_received"], after
    first = next(t for t in studio.frame_times if t >= back)
    assert first - back < 2.0
    assert studio.checker.broken == 0, vars(studio.checker)


async def test_keyframe_requests_are_rate_limited_under_heavy_loss(tmp_path: Path, aiohttp_server: Any) -> None:
    server, app = await _server(tmp_path, aiohttp_server, fallback_after=5.0)
    # 10 % of the video lost and a third of the feedback: NACK cannot keep up, frames are given up on.
    impair = NetImpair(seed=7, up=Profile(loss=0.1, only="video", **WAN), down=Profile(loss=0.3, **WAN))
    async with Studio(server, app, impair) as studio:
        before = studio.stats()
        received_before = studio.keyframe_requests_received
        t0 = time.monotonic()
        await asyncio.sleep(10)
        elapsed = time.monotonic() - t0
        after = studio.stats()
        # They reach the publisher, those the network does not drop: it drops a third of the
        # feedback, so the two requests of a quiet window were both lost 9 % of the time (CI and a
        # loaded run saw it). It keeps asking while the loss goes on: wait for one to arrive.
        async with asyncio.timeout(30):
            while studio.keyframe_requests_received == received_before:
                await asyncio.sleep(0.1)
        final = studio.stats()
        received_total = studio.keyframe_requests_received

    requests = after["plis_sent"] + after["firs_sent"] - before["plis_sent"] - before["firs_sent"]
    # It asked (how often depends on which gaps NACK could not repair in time: 1-10 seen), and
    # the limiter held back requests it would otherwise have sent (suppressed, below).
    assert requests >= 1, after
    # Never more received than sent, counted from the session's start (a request sent just before
    # the window opened can arrive inside it, 20 +- 10 ms away, longer on a loaded box).
    sent_total = final["plis_sent"] + final["firs_sent"]
    assert received_total <= sent_total, (received_total, sent_total)
    assert after["keyframes_received"] > before["keyframes_received"], after
    assert requests <= elapsed / 0.4 + 1, (requests, elapsed)  # at most one per 400 ms
    assert after["keyframe_requests_suppressed"] > before["keyframe_requests_suppressed"], after
    assert after["gaps_skipped"] > before["gaps_skipped"]
    assert studio.checker.broken == 0, vars(studio.checker)  # never a broken picture, even so
