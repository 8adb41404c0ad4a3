"""WHEP for viewers that cannot decode the program's H.264 High: one shared second encode per codec.

aiortc's own offer (VP8, H.264 Baseline and Constrained Baseline), a Safari-style
offer (Constrained Baseline and VP8) and a Constrained-Baseline-only offer all get
pictures; the second encode is shared, runs only while its viewers do, and hears
their keyframe requests.  Offers with nothing we send get a 400 that says why.
"""

from __future__ import annotations

import asyncio
import re
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import pytest

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.viewercodec import ViewerCodec, h264_level
from mixer.outputs.viewerencoder import ViewerEncoder
from orchestrator.app import create_app
from orchestrator.appkeys import SHOWS
from rooms.webrtccodecs import choose_video
from tests.conftest import Server, make_config
from tests.metricstext import sample
from tests.mixer.test_whep import AIORTC_OWN, WhepClient, _existing_codecs, _open_encoders, _post, _wait
from tests.whipclient import AiortcPublisher

CB_ONLY = (("video/H264", "42e01f"),)
SAFARI_STYLE = (("video/H264", "42e01f"), ("video/VP8", None))


async def _on_air(server: Server, colour: str = "green") -> AiortcPublisher:
    publisher = AiortcPublisher(server.url, "test-show", "bravo", server.token("bravo"), colour)
    await server.go_live(publisher, "bravo")
    return publisher


def _check_pictures(viewer: WhepClient, colour: str) -> None:
    assert viewer.sizes == {(640, 360)}
    colours = [c for _, c, _ in viewer.video]
    assert colours.count(colour) >= 0.9 * len(colours), colours[:10]
    times = [t for t, _, _ in viewer.video]
    assert len(times) >= 0.7 * 30 * (times[-1] - times[0])  # about 30 fps (a loaded machine)
    pts = [p for _, _, p in viewer.video]
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False))
    assert viewer.audio_samples > 0 and max(viewer.audio_rms) > 1000


async def test_aiortc_own_offer_and_cb_only_offer_get_pictures(server: Server) -> None:
    publisher = await _on_air(server)
    vp8 = WhepClient(f"{server.url}/whep/test-show", video_codecs=AIORTC_OWN)
    cb = WhepClient(f"{server.url}/whep/test-show", video_codecs=CB_ONLY)
    try:
        for viewer in (vp8, cb):
            await viewer.start()
        await _wait(lambda: all(len(v.video) >= 60 for v in (vp8, cb)), 30, "both viewers decode video")
        _, state = await server.api("GET", "/api/shows/test-show")
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/metrics") as res:
            metrics = await res.text()
    finally:
        statuses = [await v.stop(server.url) for v in (vp8, cb)]
        await publisher.stop()
    assert statuses == [200, 200]
    # aiortc offers VP8 first: it gets the shared VP8 encode (it used to get a 400).
    assert re.search(r"a=rtpmap:\d+ VP8/90000", vp8.answer) and "H264" not in vp8.answer
    # Constrained Baseline only: the shared CB encode, answered at its real level (3.0 at 640x360).
    assert re.search(r"a=rtpmap:\d+ H264/90000", cb.answer) and "VP8" not in cb.answer
    assert "profile-level-id=42e01e" in cb.answer and "packetization-mode=1" in cb.answer
    for viewer in (vp8, cb):
        _check_pictures(viewer, "green")
    whep = state["outputs"]["whep"]
    assert sorted(e["codec"] for e in whep["encodes"]) == ["h264-cb", "vp8"]
    assert {v["codec"] for v in whep["viewer_list"]} == {"vp8", "h264-cb"}
    assert all(e["frames_encoded"] > 30 and e["keyframes"] >= 1 for e in whep["encodes"])
    assert sample(metrics, "broadcast_output_second_encodes", output="whep") == 2, [
        line for line in metrics.splitlines() if "second_encodes" in line
    ]
    await server.wait_for(lambda s: not s["outputs"]["whep"]["encodes"])


async def test_one_shared_vp8_encode_that_stops_with_its_last_viewer(tmp_path: Path, aiohttp_server: Any) -> None:
    held = _existing_codecs()  # other tests' servers in this process
    earlier = frozenset(map(id, held))
    srv = await aiohttp_server(create_app(make_config(tmp_path)), host="127.0.0.1")
    base = str(srv.make_url("")).rstrip("/")
    whep = srv.app[SHOWS]["test-show"].egress.whep
    viewers = [WhepClient(f"{base}/whep/test-show", video_codecs=(("video/VP8", None),)) for _ in range(2)]
    safari = WhepClient(f"{base}/whep/test-show", video_codecs=SAFARI_STYLE)
    try:
        # The program's encoders open in the encoder thread with its first frames: wait for them.
        program_encoders = {"libx264": 1, "aac": 1}
        await _wait(lambda: _open_encoders(earlier) == program_encoders, 15, "the program's encoders open")
        for viewer in [*viewers, safari]:
            await viewer.start()
        await _wait(lambda: all(len(v.video) >= 10 for v in [*viewers, safari]), 30, "viewers decode video")
        # Three viewers that need VP8 (the Safari-style one joins the running VP8 encode): one libvpx encoder.
        assert _open_encoders(earlier) == {"libx264": 1, "aac": 1, "libopus": 1, "libvpx": 1}
        assert "VP8" in safari.answer and "H264" not in safari.answer
        assert whep.encodes_started == 1
        await viewers[0].stop(base)
        await asyncio.sleep(0.5)
        assert [e.codec for e in whep._encoders.values()] == [ViewerCodec.VP8]  # still watched
        frames = len(viewers[1].video)
        await _wait(lambda: len(viewers[1].video) > frames + 15, 15, "the other viewer keeps getting pictures")
    finally:
        for viewer in [*viewers, safari]:
            await viewer.stop(base)
    deadline = time.monotonic() + 15  # polled for both encoders (they close one after the other), load's margin
    while _open_encoders(earlier) != {"libx264": 1, "aac": 1} and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert _open_encoders(earlier) == {"libx264": 1, "aac": 1}  # the last viewer left: VP8 (and Opus) stop
    assert not whep._encoders and whep.encodes_started == 1
    del held


async def test_a_vp8_viewers_pli_reaches_the_vp8_encoder(tmp_path: Path, aiohttp_server: Any) -> None:
    srv = await aiohttp_server(create_app(make_config(tmp_path)), host="127.0.0.1")
    base = str(srv.make_url("")).rstrip("/")
    whep = srv.app[SHOWS]["test-show"].egress.whep
    viewer = WhepClient(f"{base}/whep/test-show", video_codecs=AIORTC_OWN)
    try:
        await viewer.start()
        await _wait(lambda: len(viewer.video) >= 10, 30, "video")
        encoder = whep._encoders[ViewerCodec.VP8]
        session = next(iter(whep._viewers.values()))
        sender = next(s for s in session.pc.getSenders() if s.kind == "video")
        receiver = next(r for r in viewer.pc.getReceivers() if r.track.kind == "video")
        await asyncio.sleep(0.6)  # past the rate limit
        requests, keys = encoder.keyframe_requests, encoder.keyframes
        await receiver._send_rtcp_pli(sender._ssrc)
        # At least ours: a loaded viewer's jitter buffer may ask on its own too (a counter that
        # jumped past requests + 1 between two polls never matched ==).
        await _wait(lambda: encoder.keyframe_requests > requests, 10, "the PLI at the VP8 encoder")
        await _wait(lambda: encoder.keyframes > keys, 10, "a VP8 keyframe")  # one frame's encode; load's margin
        assert session.keyframe_requests >= 1
    finally:
        await viewer.stop(base)


async def test_offers_without_a_codec_we_send_are_refused_with_the_reason(server: Server) -> None:
    vp9 = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 98 45\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\n"
        "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=setup:actpass\r\n"
        "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\n"
        "a=rtpmap:98 VP9/90000\r\na=rtpmap:45 AV1/90000\r\n"
    )
    status, _, text = await _post(f"{server.url}/whep/test-show", vp9)
    assert status == 400 and "VP9" in text and "AV1" in text and "VP8" in text, text
    pm0 = vp9.replace("98 45", "102").replace(
        "a=rtpmap:98 VP9/90000\r\na=rtpmap:45 AV1/90000\r\n",
        "a=rtpmap:102 H264/90000\r\na=fmtp:102 profile-level-id=42e01f;packetization-mode=0\r\n",
    )
    status, _, text = await _post(f"{server.url}/whep/test-show", pm0)
    assert status == 400 and "packetization-mode=1" in text, text


# --- units ------------------------------------------------------------------------------------------


def _offer(*codecs: str) -> str:
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "m=video 9 UDP/TLS/RTP/SAVPF " + " ".join(str(96 + i) for i in range(len(codecs))),
    ]
    for i, codec in enumerate(codecs):
        name, _, plid = codec.partition(":")
        lines.append(f"a=rtpmap:{96 + i} {name}/90000")
        if plid:
            lines.append(f"a=fmtp:{96 + i} profile-level-id={plid};packetization-mode=1")
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.parametrize(
    ("codecs", "running", "want"),
    [
        (("H264:f4001f", "VP8"), (), ViewerCodec.PROGRAM),  # Chromium: the program's own packets
        (("H264:640c1f", "H264:42e01f", "VP8"), (), ViewerCodec.PROGRAM),  # Safari with Constrained High
        (("VP8", "VP9", "AV1"), (), ViewerCodec.VP8),  # Firefox without OpenH264
        (("H264:42e01f", "VP8"), (), ViewerCodec.VP8),
        (("H264:42e01f", "VP8"), (ViewerCodec.H264_CB,), ViewerCodec.H264_CB),  # join the running encode
        (("H264:42001f",), (), ViewerCodec.H264_CB),  # Baseline decoders take Constrained Baseline
    ],
)
def test_choose_video(codecs: tuple[str, ...], running: tuple[ViewerCodec, ...], want: ViewerCodec) -> None:
    assert choose_video(_offer(*codecs), running) is want


def test_choose_video_refusals_and_levels() -> None:
    with pytest.raises(LookupError, match="Main|H264"):
        choose_video(_offer("H264:4d001f"))
    assert choose_video("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n") is None
    assert h264_level(640, 360, 30) == 30 and h264_level(1280, 720, 30) == 31
    assert h264_level(1280, 720, 60) == 32 and h264_level(1920, 1080, 30) == 40


def _h264_packets(pts_ms: list[int]) -> list[EncodedPacket]:
    """A small H.264 stream in a millisecond time base with the given frame times."""
    source = av.CodecContext.create("libx264", "w")
    assert isinstance(source, av.VideoCodecContext)
    source.width, source.height, source.pix_fmt = 320, 180, "yuv420p"
    source.time_base = Fraction(1, 1000)
    source.options = {"tune": "zerolatency", "bf": "0"}
    packets: list[EncodedPacket] = []
    frames: list[av.VideoFrame | None] = []
    for n, ms in enumerate(pts_ms):
        frame = av.VideoFrame.from_ndarray(np.full((270, 320), (n * 20) % 255, np.uint8), format="yuv420p")
        frame.pts, frame.time_base = ms, source.time_base
        frames.append(frame)
    for frame in [*frames, None]:
        for packet in source.encode(frame):
            packet.time_base = source.time_base
            packets.append(EncodedPacket.from_av("video", packet))
    return packets


def test_second_encode_keeps_the_input_timestamps_and_never_goes_back() -> None:
    """The program's timestamps (any time base, any cadence) on the 90 kHz RTP clock; a program
    timeline that restarts from 0 continues one frame on, never backwards."""
    fmt = ProgramFormat(width=320, height=180, fps=30, video_bitrate=300_000)
    first = [0, 33, 67, 100, 200, 233, 267, 400, 433]  # uneven: frames lost to overload
    again = [0, 33, 67]
    out: list[EncodedPacket] = []
    encoder = ViewerEncoder(ViewerCodec.VP8, fmt, out.append, lambda: None)
    encoder.start()
    for packet in _h264_packets(first) + _h264_packets(again):
        encoder.put(packet)
    deadline = time.monotonic() + 10
    while len(out) < len(first) + len(again) and time.monotonic() < deadline:
        time.sleep(0.02)
    encoder.stop()
    assert encoder.join(5)
    last = first[-1] * 90
    assert [p.pts for p in out] == [ms * 90 for ms in first] + [last + 3000 + ms * 90 for ms in again]
    assert encoder.timeline_jumps == 1
    assert out[0].keyframe and not any(p.keyframe for p in out[1:])  # the program's keyframes are not ours
    assert all(p.time_base == Fraction(1, 90000) for p in out)
