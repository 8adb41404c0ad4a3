"""WHEP egress with real aiortc viewers: the shared encode's packets, decoded on the other side.

Also: the keyframe rate limit in the encoder, a stalled viewer's bounded queue,
the honest SDP answer (H.264 High at the encoder's level, Opus stereo), and
the refusals (bad SDP, unknown show, send-only offer, no video codec we send, token).
Viewers that cannot decode High: test_whep_codecs.py.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import re
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.programencoder import ProgramEncoder
from orchestrator.app import create_app
from orchestrator.appkeys import SHOWS
from rooms.compat import register_h264_high
from rooms.packettrack import PacketTrack
from rooms.webrtccodecs import describe_answer
from tests.conftest import Server, make_config
from tests.mediacheck import classify
from tests.peerclient import PeerClient
from tests.whipclient import AiortcPublisher

# --- a WHEP viewer -------------------------------------------------------------------


class WhepClient(PeerClient):
    """An aiortc WHEP viewer: POST a recvonly offer, decode what arrives, DELETE to leave.

    aiortc itself only knows H.264 Baseline; the viewer registers High (what the
    stream is) like any WHEP client must offer what it can decode.  ``video_codecs``
    (mime type, profile-level-id or None) limits the offer to those, in that order:
    e.g. ``AIORTC_OWN`` is what an unmodified aiortc offers.
    """

    def __init__(
        self, url: str, token: str | None = None, video_codecs: Sequence[tuple[str, str | None]] | None = None
    ) -> None:
        register_h264_high()
        super().__init__()
        self.url = url
        self.token = token
        self.video_codecs = video_codecs
        self.location: str | None = None
        self.answer = ""
        self.video: list[tuple[float, str, float]] = []  # (arrival, colour, pts seconds)
        self.audio_samples = 0
        self.audio_rms: list[float] = []
        self.sizes: set[tuple[int, int]] = set()
        self.means: list[tuple[float, float, float]] = []  # (arrival, mean luma, mean chroma)

    def on_frame(self, frame: Any) -> None:
        if isinstance(frame, av.VideoFrame):
            assert frame.pts is not None and frame.time_base is not None
            self.sizes.add((frame.width, frame.height))
            pts = float(frame.pts * Fraction(frame.time_base))
            self.video.append((time.monotonic(), classify(frame), pts))
            planes = frame.to_ndarray(format="yuv420p")
            h = frame.height
            self.means.append((time.monotonic(), planes[:h].mean(), planes[h:].mean()))
        elif isinstance(frame, av.AudioFrame):
            self.audio_samples += frame.samples
            pcm = frame.to_ndarray().astype(np.float64)
            self.audio_rms.append(float(np.sqrt(np.mean(pcm**2))))

    async def start(self, timeout: float = 10) -> None:
        video = self.pc.addTransceiver("video", direction="recvonly")
        if self.video_codecs is not None:
            caps = RTCRtpReceiver.getCapabilities("video").codecs
            chosen = [
                c
                for mime, plid in self.video_codecs
                for c in caps
                if c.mimeType == mime and (plid is None or c.parameters.get("profile-level-id") == plid)
            ]
            video.setCodecPreferences(chosen + [c for c in caps if c.mimeType == "video/rtx"])
        self.pc.addTransceiver("audio", direction="recvonly")
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        status, body, headers = await self.post_offer(self.url, auth)
        assert status == 201, body
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert "Location" in headers["Access-Control-Expose-Headers"]
        self.location = headers["Location"]
        self.answer = body
        await self.answered(self.answer, timeout)

    async def stop(self, base: str) -> int:
        status = 0
        if self.location:
            async with aiohttp.ClientSession() as http, http.delete(base + self.location) as res:
                status = res.status
        await self.close_peer()
        return status


# Timeouts given to _wait: a WebRTC connect and its first frames take 1-2 s on a quiet box; 30 s
# because 10-15 s ran out at load 25 (the lead's full-suite runs on a shared 2-core box).
async def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


def _max_gap(times: list[float]) -> float:
    return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)


# What aiortc 1.16 offers out of the box (its own codec table), in its order.
AIORTC_OWN = (("video/VP8", None), ("video/H264", "42001f"), ("video/H264", "42e01f"))

# --- end to end ------------------------------------------------------------------------


async def test_aiortc_viewers_get_the_program_across_a_cut_and_a_dropout(server: Server) -> None:
    publisher = AiortcPublisher(server.url, "test-show", "bravo", server.token("bravo"), "green")
    viewers = [WhepClient(f"{server.url}/whep/test-show") for _ in range(2)]
    try:
        await server.go_live(publisher, "bravo")
        for viewer in viewers:
            await viewer.start()
        # Each viewer starts on a keyframe: decoded frames within a second.
        await _wait(lambda: all(len(v.video) >= 30 for v in viewers), 30, "viewers decode video")
        await asyncio.sleep(1.0)
        # The studio drops out: the program goes to the slate, the viewers keep getting frames.
        dropped_at = time.monotonic()
        await publisher.stop()
        await server.wait_for(lambda s: s["on_air"] is None)
        # Polled: a loaded viewer decodes the slate later than a fixed 1.5 s allowed.
        await _wait(
            lambda: all(sum(1 for t, c, _ in v.video if t > dropped_at and c != "green") >= 20 for v in viewers),
            15,
            "viewers see the slate",
        )
        _, state = await server.api("GET", "/api/shows/test-show")
    finally:
        await publisher.stop()
        statuses = [await v.stop(server.url) for v in viewers]

    assert statuses == [200, 200]
    answer = viewers[0].answer
    # Honest SDP: H.264 High at the encoder's level (640x360 -> 3.0), packetization-mode 1; Opus stereo.
    assert re.search(r"a=rtpmap:\d+ H264/90000", answer)
    assert "profile-level-id=64001e" in answer and "packetization-mode=1" in answer
    assert re.search(r"a=fmtp:\d+ .*stereo=1", answer)
    assert not re.search(r"profile-level-id=42", answer)
    for viewer in viewers:
        assert viewer.sizes == {(640, 360)}
        colours = [c for _, c, _ in viewer.video]
        before = [c for t, c, _ in viewer.video if t < dropped_at]
        after = [c for t, c, _ in viewer.video if t > dropped_at]
        assert before.count("green") >= 0.9 * len(before), viewer.video[:5]
        # The slate arrives once (how soon depends on fallback_after and load) and stays.
        slate_from = next((i for i, c in enumerate(after) if c != "green"), len(after))
        assert len(after) - slate_from >= 15 and "green" not in after[slate_from:], after
        # 30 fps end to end and no stall at the dropout.
        times = [t for t, _, _ in viewer.video]
        assert len(colours) >= 0.8 * 30 * (times[-1] - times[0])
        # A stopped output is a gap of seconds; 1.5 s leaves room for one delayed frame on a loaded box.
        assert _max_gap(times) < 1.5, _max_gap(times)
        pts = [p for _, _, p in viewer.video]
        assert all(b > a for a, b in zip(pts, pts[1:], strict=False))
        # Audio: Opus decoded, the studio's tone while it was on air.
        assert viewer.audio_samples >= 0.8 * 48000 * (times[-1] - times[0])
        assert max(viewer.audio_rms) > 1000

    whep = state["outputs"]["whep"]
    assert whep["viewers"] == 2 and whep["connected_viewers"] == 2
    assert whep["h264_profile_level_id"] == "64001e"
    assert whep["opus_packets"] > 0
    assert whep["bitrate_bps"] > 0 and 18 <= whep["fps"] <= 35  # about 30: a loaded encoder drops frames
    # New viewers asked for keyframes; the encoder forced at most one per 500 ms.
    assert whep["keyframe_requests"] >= 2
    assert whep["forced_keyframes"] <= state["mixer"]["uptime_s"] / 0.5 + 1
    await server.wait_for(lambda s: s["outputs"]["whep"]["viewers"] == 0)


# --- refusals, CORS, token ---------------------------------------------------------------------


async def _post(url: str, body: str, content_type: str = "application/sdp", **headers: str) -> tuple[int, Any, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body, headers={"Content-Type": content_type, **headers}) as res,
    ):
        return res.status, res.headers, await res.text()


async def _offer(*, direction: str = "recvonly") -> str:
    register_h264_high()
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction=direction)
    pc.addTransceiver("audio", direction=direction)
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


async def test_whep_refusals_and_cors(server: Server) -> None:
    url = f"{server.url}/whep/test-show"
    status, headers, _ = await _post(f"{server.url}/whep/no-such-show", await _offer())
    assert status == 404 and headers["Access-Control-Allow-Origin"] == "*"
    status, _, _ = await _post(url, "v=0", content_type="text/plain")
    assert status == 415
    status, headers, text = await _post(url, "hello")
    assert status == 400 and "SDP" in text and headers["Access-Control-Allow-Origin"] == "*"
    status, _, text = await _post(url, await _offer(direction="sendonly"))
    assert status == 400 and "recvonly" in text
    # Video codecs we send none of (VP8 and H.264 renamed VP9): a 400 that lists what we send.
    status, _, text = await _post(url, re.sub(r"(a=rtpmap:\d+ )(VP8|H264)/", r"\1VP9/", await _offer()))
    assert status == 400 and "High" in text and "VP8" in text, text

    async with aiohttp.ClientSession() as http:
        async with http.options(url) as res:
            assert res.status == 204
            assert "POST" in res.headers["Access-Control-Allow-Methods"]
            assert "Location" in res.headers["Access-Control-Expose-Headers"]
            assert res.headers["Accept-Post"] == "application/sdp"
        async with http.delete(f"{url}/nobody") as res:
            assert res.status == 404
        async with http.patch(f"{url}/nobody") as res:
            assert res.status == 405
    _, state = await server.api("GET", "/api/shows/test-show")
    assert state["outputs"]["whep"]["refused"] == 3  # 'hello', the send-only offer, the VP9-only one
    assert state["outputs"]["whep"]["viewers"] == 0


async def test_whep_viewer_token(tmp_path: Path, aiohttp_server: Any) -> None:
    config = make_config(tmp_path, outputs={"whep_viewer_token": "viewer-secret-1"})
    srv = await aiohttp_server(create_app(config), host="127.0.0.1")
    url = str(srv.make_url("/whep/test-show"))
    status, _, _ = await _post(url, await _offer())
    assert status == 401
    status, _, _ = await _post(url, await _offer(), Authorization="Bearer wrong-token")
    assert status == 401
    viewer = WhepClient(url, token="viewer-secret-1")
    try:
        await viewer.start()
        await _wait(lambda: len(viewer.video) >= 5, 30, "video with a token")
    finally:
        await viewer.stop(str(srv.make_url("")).rstrip("/"))


# --- units: keyframe rate limit, answer, stalled viewer ------------------------------------------


class _Capture:
    name = "capture"

    def __init__(self) -> None:
        self.packets: list[EncodedPacket] = []

    def start(self, fmt: ProgramFormat) -> None:
        pass

    def put(self, packet: EncodedPacket) -> None:
        self.packets.append(packet)

    def close(self) -> None:
        pass


def test_keyframes_regular_plus_forced_at_most_every_500ms() -> None:
    fmt = ProgramFormat(width=320, height=180, fps=30)
    encoder = ProgramEncoder(fmt, threads=1)
    capture = _Capture()
    encoder.add_sink(capture)  # type: ignore[arg-type]
    luma = np.full((180 * 3 // 2, 320), 100, np.uint8)
    silence = np.zeros((1600, 2), np.int16)
    for n in range(120):
        if n >= 40:
            encoder.request_keyframe()  # a viewer hammering PLIs
        encoder._encode(n, luma, silence)
    keys = [p.pts for p in capture.packets if p.kind == "video" and p.keyframe]
    assert {0, 30, 60, 90} <= set(keys)  # the regular 1 s GOP stays for the CDN outputs
    assert min(b - a for a, b in zip(keys, keys[1:], strict=False)) >= 15
    assert keys[:3] == [0, 30, 45]  # forced 500 ms after the last one, not at once
    assert encoder.forced_keyframes == len([k for k in keys if k % 30])


def test_answer_names_the_real_level_and_stereo() -> None:
    sdp = (
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\n"
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
    )
    out = describe_answer(sdp, "640028")
    assert "profile-level-id=640028\r\n" in out
    # The offer's profile stays (High 4:4:4 Predictive decoders decode High): only the level is ours.
    assert "profile-level-id=f4001e\r\n" in describe_answer(sdp.replace("=64001f", "=f4001f"), "64001e")
    assert "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 stereo=1;sprop-stereo=1\r\n" in out
    with_fmtp = sdp + "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    assert "a=fmtp:111 minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1\r\n" in describe_answer(with_fmtp, "64001f")


def _packet(n: int, keyframe: bool) -> EncodedPacket:
    return EncodedPacket("video", b"\x00\x00\x00\x01\x65" + bytes(1000), n, n, Fraction(1, 30), keyframe)


async def test_stalled_viewer_is_bounded_and_resumes_on_a_keyframe() -> None:
    asks: list[int] = []
    stalled = PacketTrack("video", 15, on_need_keyframe=lambda: asks.append(1))
    healthy = PacketTrack("video", 15)
    for track in (stalled, healthy):
        track.started = True  # as after the sender's first pull
    received: list[int] = []

    async def pull() -> None:
        while True:
            packet = await healthy.recv()
            assert packet.pts is not None
            received.append(packet.pts)

    puller = asyncio.ensure_future(pull())
    for n in range(100):
        packet = _packet(n, keyframe=n % 30 == 0)
        stalled.push(packet)  # nobody pulls this one
        healthy.push(packet)
        await asyncio.sleep(0)
    puller.cancel()
    assert received == list(range(100))  # the stall cost the other viewer nothing
    assert stalled.backlog <= 15 and stalled.resyncs >= 1 and asks
    # What the stalled viewer has queued starts on a keyframe: it decodes once it pulls again.
    first = await stalled.recv()
    assert first.is_keyframe
    stalled.stop()
    healthy.stop()
    with pytest.raises(MediaStreamError):
        await stalled.recv()


# --- one encode for every output ------------------------------------------------------------------


def _open_encoders(ignore: frozenset[int] = frozenset()) -> collections.Counter[str]:
    """Open encoders in this process, by codec name, except those in ``ignore`` (by id)."""
    gc.collect()
    found = collections.Counter(
        o.name
        for o in gc.get_objects()
        if isinstance(o, av.CodecContext) and o.is_encoder and o.is_open and id(o) not in ignore
    )
    found.pop("mjpeg", None)  # the control page's preview pictures, not an output
    return found


def _existing_codecs() -> list[av.CodecContext]:
    """Codec contexts alive now (held, so their ids cannot be reused while the test runs)."""
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, av.CodecContext)]


async def test_one_encode_whatever_the_outputs(tmp_path: Path, aiohttp_server: Any) -> None:
    outputs = {"recording": True, "rtmp": [{"name": "nowhere", "url": "rtmp://127.0.0.1:9/live/key"}]}
    held = _existing_codecs()  # other tests' servers in this process
    earlier = frozenset(map(id, held))
    srv = await aiohttp_server(create_app(make_config(tmp_path, outputs=outputs)), host="127.0.0.1")
    base = str(srv.make_url("")).rstrip("/")
    viewers = [WhepClient(f"{base}/whep/test-show") for _ in range(3)]
    flv = bytearray()
    try:
        assert _open_encoders(earlier) == {"libx264": 1, "aac": 1}  # HLS, FLV, RTMP, recording: no encode of their own
        async with aiohttp.ClientSession() as http, http.get(f"{base}/live/test-show.flv") as res:
            for viewer in viewers:
                await viewer.start()
            await _wait(lambda: all(len(v.video) >= 10 for v in viewers), 30, "viewers decode video")
            while len(flv) < 10_000:
                flv.extend(await res.content.readany())
            # Three WebRTC viewers add one Opus encode, shared: never a per-viewer encode.
            assert _open_encoders(earlier) == {"libx264": 1, "aac": 1, "libopus": 1}
    finally:
        for viewer in viewers:
            await viewer.stop(base)
    await asyncio.sleep(0.2)
    deadline = time.monotonic() + 15  # generous: closing waits for threads on a loaded box
    while _open_encoders(earlier).get("libopus") and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert _open_encoders(earlier) == {"libx264": 1, "aac": 1}  # no viewer left: the Opus encode stops
    del held


async def test_a_viewers_pli_reaches_the_shared_encoder(tmp_path: Path, aiohttp_server: Any) -> None:
    srv = await aiohttp_server(create_app(make_config(tmp_path)), host="127.0.0.1")
    base = str(srv.make_url("")).rstrip("/")
    runner = srv.app[SHOWS]["test-show"]
    viewer = WhepClient(f"{base}/whep/test-show")
    try:
        await viewer.start()
        await _wait(lambda: len(viewer.video) >= 10, 30, "video")
        session = next(iter(runner.egress.whep._viewers.values()))
        video_sender = next(s for s in session.pc.getSenders() if s.kind == "video")
        receiver = next(r for r in viewer.pc.getReceivers() if r.track.kind == "video")
        encoder = runner.program.encoder
        requests, forced = encoder.keyframe_requests, encoder.forced_keyframes
        await asyncio.sleep(0.6)  # past the rate limit of the viewer's own first request
        await receiver._send_rtcp_pli(video_sender._ssrc)  # what a decoder sends after a loss
        await _wait(lambda: session.keyframe_requests == 1, 15, "the PLI at the server")
        assert encoder.keyframe_requests == requests + 1
        # Served (within 500 ms on a quiet box: bench's figure): forced, or (1 time in 30) by the
        # regular keyframe that came first. 10 s: the encoder thread is late on a loaded box.
        await _wait(lambda: not encoder._key_wanted, 10, "the keyframe")
        assert encoder.forced_keyframes - forced in (0, 1)
    finally:
        await viewer.stop(base)
