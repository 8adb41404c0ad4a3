"""The crew's program monitor and solo (PFL), with real aiortc peers.

Two studios send tones (alpha 440 Hz, bravo 1 kHz). Bravo is on air, alpha is muted and
off air; a director's solo of alpha carries alpha's tone only, and the program monitor
carries bravo's only (the solo changes nothing in the program). A host's join token
opens neither. Fifty open/close cycles leave no task, thread, encode or peer connection.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import threading
import time
from typing import Any

import aiohttp
import av
import numpy as np
from aiortc import RTCPeerConnection

from orchestrator.auth import roles_for
from orchestrator.operators import Role
from rooms.compat import register_h264_high
from tests.conftest import Server
from tests.metricstext import sample
from tests.peerclient import PeerClient
from tests.whipclient import AiortcPublisher

API = "/api/shows/test-show"
CYCLES = int(os.environ.get("LEAK_CYCLES", "50"))


class CrewListener(PeerClient):
    """An operator's stream as aiortc: POST an offer to ``path``, keep the decoded audio."""

    def __init__(self, server: Server, path: str, *, video: bool = False, token: str | None = None) -> None:
        register_h264_high()
        super().__init__()
        self.server = server
        self.path = path
        self.video = video
        self.token = token
        self.location: str | None = None
        self.audio: list[np.ndarray] = []  # first channel of each decoded frame, int16 scale
        self.video_frames = 0
        self.messages: list[dict[str, Any]] = []

    def on_frame(self, frame: Any) -> None:
        if isinstance(frame, av.AudioFrame):
            self.audio.append(frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0].copy())
        else:
            self.video_frames += 1

    async def post(self) -> tuple[int, str]:
        if self.video:
            self.pc.addTransceiver("video", direction="recvonly")
            channel = self.pc.createDataChannel("monitor")
            channel.on("message", lambda m: self.messages.append(json.loads(m)))
        self.pc.addTransceiver("audio", direction="recvonly")
        auth = {"Authorization": f"Bearer {self.token or self.server_token}"}
        status, text, headers = await self.post_offer(self.server.url + self.path, auth)
        if status == 201:
            self.location = headers["Location"]
        return status, text

    @property
    def server_token(self) -> str:
        return self.server.auth["Authorization"].split()[1]

    async def start(self, timeout: float = 15) -> None:
        status, answer = await self.post()
        assert status == 201, answer
        await self.answered(answer, timeout)

    async def stop(self, delete: bool = True) -> int:
        status = 0
        if delete and self.location:
            async with (
                aiohttp.ClientSession() as http,
                http.delete(self.server.url + self.location, headers=self.server.auth) as res,
            ):
                status = res.status
        await self.close_peer()
        return status

    def samples(self, seconds: float) -> np.ndarray:
        """The last ``seconds`` of decoded audio (48 kHz)."""
        audio = np.concatenate(self.audio) if self.audio else np.zeros(0)
        return audio[-int(seconds * 48000) :]


def tone_levels(audio: np.ndarray) -> dict[int, float]:
    """RMS (int16 scale) of the 440 Hz and 1 kHz bands of ``audio`` (48 kHz)."""
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float64) * np.hanning(len(audio))))
    freqs = np.fft.rfftfreq(len(audio), 1 / 48000)
    scale = 2 * np.sqrt(2) / np.sum(np.hanning(len(audio)))  # a sine's peak bin -> its RMS
    return {hz: float(spectrum[(freqs > hz - 30) & (freqs < hz + 30)].max() * scale) for hz in (440, 1000)}


async def crew(server: Server) -> dict[str, Any]:
    _, state = await server.api("GET", API)
    return state["crew"]


async def test_solo_hears_only_the_soloed_studio_and_the_program_is_unchanged(server: Server) -> None:
    alpha = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "red", hz=440)
    bravo = AiortcPublisher(server.url, "test-show", "bravo", server.token("bravo"), "green", hz=1000)
    solo = CrewListener(server, f"{API}/solo/alpha")
    monitor = CrewListener(server, f"{API}/monitor", video=True)
    try:
        await alpha.start()
        await bravo.start()
        await server.wait_for(lambda s: all((st["stats"] or {}).get("audio_frames", 0) > 50 for st in s["studios"]))
        await server.api("POST", f"{API}/cut", json={"studio": "bravo"})
        await server.api("POST", f"{API}/audio/alpha", json={"mute": True})
        await solo.start()
        await monitor.start()
        state = await server.wait_for(lambda s: s["crew"]["solo_streams"] == 1 and s["crew"]["monitors"] == 1)
        assert [e["studio"] for e in state["crew"]["solo_encodes"]] == ["alpha"]
        await asyncio.sleep(3.0)
        heard_solo = tone_levels(solo.samples(1.5))
        heard_program = tone_levels(monitor.samples(1.5))
        _, meters = await server.api("GET", f"{API}/audio")
        metrics = await _metrics(server)
        clock = [m for m in monitor.messages if m.get("type") == "monitor.clock"]
    finally:
        await solo.stop()
        await monitor.stop()
        await alpha.stop()
        await bravo.stop()

    # The tones are -12 dBFS (RMS ~5650): the solo is alpha at full level, muted or not.
    assert heard_solo[440] > 2000 and heard_solo[1000] < heard_solo[440] / 100, heard_solo
    assert heard_program[1000] > 2000 and heard_program[440] < heard_program[1000] / 100, heard_program
    assert meters["studios"]["alpha"]["mute"] and -14 < meters["studios"]["alpha"]["peak_dbfs"] < -11
    assert monitor.video_frames > 30
    # The clock messages map the monitor's RTP timestamps to the program clock's ticks.
    assert clock, monitor.messages[:5]
    assert abs(clock[-1]["server_ms"] - clock[-1]["tick_ms"]) < 5000, clock[-1]
    assert sample(metrics, "broadcast_crew_streams", show="test-show", kind="monitor") == 1
    assert sample(metrics, "broadcast_crew_streams", show="test-show", kind="solo") == 1
    after = await server.wait_for(lambda s: s["crew"]["solo_streams"] == 0 and s["crew"]["monitors"] == 0)
    assert after["crew"]["solo_encodes"] == []


async def _metrics(server: Server) -> str:
    async with aiohttp.ClientSession() as http, http.get(server.url + "/metrics") as res:
        return await res.text()


async def test_a_host_token_opens_neither_monitor_nor_solo(server: Server) -> None:
    host = server.token("alpha")
    for path in (f"{API}/monitor", f"{API}/solo/alpha"):
        listener = CrewListener(server, path, video=path.endswith("monitor"), token=host)
        try:
            status, text = await listener.post()
        finally:
            await listener.stop(delete=False)
        assert status == 401, (path, status, text)
    nowhere = CrewListener(server, f"{API}/solo/nowhere")
    try:
        status, text = await nowhere.post()
    finally:
        await nowhere.stop(delete=False)
    assert status == 404 and "nowhere" in text, (status, text)
    # Directors and producers only (the links role hands out join links, it does not listen).
    for method, path in (("POST", "/monitor"), ("DELETE", "/monitor/{viewer}"), ("POST", "/solo/{studio}")):
        assert set(roles_for(method, "/api/shows/{show}" + path)) == {Role.DIRECTOR, Role.PRODUCER}
    state = await crew(server)
    assert state["monitors"] == 0 and state["solo_streams"] == 0


def _counts() -> tuple[int, int]:
    threads = [t for t in threading.enumerate() if not t.name.startswith("asyncio_")]
    return len(asyncio.all_tasks()), len(threads)


def _peer_connections() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, RTCPeerConnection) and o.connectionState != "closed")


async def test_monitor_and_solo_cycles_leak_nothing(server: Server) -> None:
    alpha = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "red", hz=440)
    await alpha.start()
    try:

        async def cycle(i: int) -> None:
            listener = CrewListener(server, f"{API}/solo/alpha" if i % 2 else f"{API}/monitor", video=not i % 2)
            await listener.start()
            # Half are ended by DELETE, half by the page going away (its peer connection closes).
            await listener.stop(delete=i % 4 < 2)
            await server.wait_for(lambda s: s["crew"]["solo_streams"] == 0 and s["crew"]["monitors"] == 0, 20)

        for i in range(2):
            await cycle(i)
        base = _counts()
        t0 = time.monotonic()
        for i in range(CYCLES):
            await cycle(i)
        spent = time.monotonic() - t0
        deadline = time.monotonic() + 10

        def solos() -> list[threading.Thread]:
            return [t for t in threading.enumerate() if t.name.startswith("solo-")]

        # The last cycle's solo thread may still be ending on a loaded box: wait for it too.
        while (_counts()[0] > base[0] + 1 or _counts()[1] > base[1] or solos()) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        tasks, threads = _counts()
        state = await crew(server)
        print(
            f"\n{CYCLES} monitor/solo cycles in {spent:.1f} s: tasks {base[0]}->{tasks}, threads {base[1]}->{threads}"
        )
        assert tasks <= base[0] + 1, (base, tasks)
        # A leak is one per cycle (50); one thread may still be ending under load (the test's own
        # closing peer's decoder thread), so one over the base is tolerated, named if it fails.
        assert threads <= base[1] + 1, (base, threads, [t.name for t in threading.enumerate()])
        assert not solos()
        assert state["solo_encodes"] == [] and state["solos_total"] >= CYCLES // 2
        assert state["monitors_total"] >= CYCLES // 2
        # Only the publisher's own peer connections (ours and the server's session) remain open.
        assert _peer_connections() <= 2
    finally:
        await alpha.stop()
