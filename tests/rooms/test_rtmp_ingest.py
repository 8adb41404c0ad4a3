"""RTMP studio ingest (rooms/rtmpserver.py): FFmpeg (through PyAV, its own process) publishes into
a studio with its join token, the crew cuts to it, and the program shows its picture; a wrong or
revoked token is refused at connect/publish, before any media; bad input closes only that
connection."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import math
import struct
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from mixer.outputs import amf0
from mixer.outputs.rtmpchunks import (
    COMMAND_AMF0,
    HANDSHAKE_SIZE,
    SET_CHUNK_SIZE,
    ChunkReader,
    Message,
    encode_message,
    handshake_c0c1,
)
from orchestrator.app import create_app
from orchestrator.appkeys import RTMP_INGEST
from orchestrator.rtmpingest import split_path
from tests import chromium
from tests.chromium import Chromium
from tests.conftest import OPERATOR, Server, make_config
from tests.flvpull import record_flv
from tests.mediacheck import decode, without_cue_points
from tests.rooms.rtmppublisher import spawn_publisher
from tests.studioprocess import spawn_test_studio, stop_processes
from tests.test_control_page import click, open_control, sign_in


class IngestServer(Server):
    rtmp_port = 0

    def rtmp_url(self, studio: str, token: str | None = None) -> str:
        token = token or self.token(studio)
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/test-show/{studio}?token={token}"

    def studio(self, state: dict[str, Any], studio: str) -> dict[str, Any]:
        return next(s for s in state["studios"] if s["id"] == studio)


@pytest.fixture
async def ingest(tmp_path: Path, aiohttp_server: Any) -> IngestServer:
    config = make_config(tmp_path, width=320, height=180)
    config = dataclasses.replace(config, server=dataclasses.replace(config.server, rtmp_ingest="127.0.0.1:0"))
    srv = await aiohttp_server(create_app(config), host="127.0.0.1")
    server = IngestServer(str(srv.make_url("")).rstrip("/"), config)
    server.rtmp_port = srv.app[RTMP_INGEST].port
    return server


async def _raw(port: int, *chunks: bytes, handshake: bool = True) -> tuple[list[Message], bool]:
    """Send ``chunks`` after the handshake; (the messages the server sent back, it closed the connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    got = ChunkReader()
    messages: list[Message] = []
    closed = False
    try:
        if handshake:
            writer.write(handshake_c0c1())
            answer = await asyncio.wait_for(reader.readexactly(1 + 2 * HANDSHAKE_SIZE), 10)
            writer.write(answer[1 : 1 + HANDSHAKE_SIZE])
        for chunk in chunks:
            writer.write(chunk)
        await writer.drain()
        async with asyncio.timeout(10):
            while True:
                data = await reader.read(65536)
                if not data:
                    closed = True
                    break
                for message in got.feed(data):
                    if message.type_id == SET_CHUNK_SIZE:
                        continue
                    messages.append(message)
    except TimeoutError:
        pass
    finally:
        writer.close()
    return messages, closed


def _connect(app: str, tc_url: str = "") -> bytes:
    body = amf0.encode("connect", 1, {"app": app, "tcUrl": tc_url or f"rtmp://127.0.0.1/{app}", "type": "nonprivate"})
    return encode_message(3, Message(COMMAND_AMF0, 0, 0, body), 128)


def _commands(messages: list[Message]) -> list[list[Any]]:
    return [amf0.decode(m.payload) for m in messages if m.type_id == COMMAND_AMF0]


def _audio_rms_dbfs(flv: bytes) -> float:
    """RMS level of the program audio in an FLV recording (dBFS)."""
    with av.open(io.BytesIO(without_cue_points(flv)), format="flv") as container:
        samples = [
            frame.to_ndarray().astype(np.float64).ravel()
            for packet in container.demux(audio=0)
            for frame in packet.decode()
        ]
    data = np.concatenate(samples)
    scale = 32768.0 if np.abs(data).max() > 2 else 1.0  # s16 or float planes
    rms = float(np.sqrt(np.mean((data / scale) ** 2)))
    return 20 * math.log10(max(rms, 1e-9))


def test_ingest_paths() -> None:
    assert split_path("live/wuhan/beijing?token=abc") == (["wuhan", "beijing"], "abc")
    assert split_path("live/wuhan/beijing/abc") == (["wuhan", "beijing"], "abc")  # OBS: the key is the token
    assert split_path("live/abc") == ([], "abc")
    assert split_path("") == ([], "")


async def test_bad_input_closes_only_that_connection(ingest: IngestServer) -> None:
    port = ingest.rtmp_port
    # Not RTMP at all: a short HTTP request is shut out at its first byte, not after the timeout.
    began = asyncio.get_running_loop().time()
    _, closed = await _raw(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", handshake=False)
    assert closed and asyncio.get_running_loop().time() - began < 5  # the server's timeout is 10 s
    # A chunk size far over the bound.
    huge = encode_message(2, Message(SET_CHUNK_SIZE, 0, 0, struct.pack(">I", 0x7FFFFFFF)), 128)
    _, closed = await _raw(port, huge)
    assert closed
    # Garbage after the handshake (a chunk stream that starts without a full header).
    _, closed = await _raw(port, b"\xc3" + bytes(range(256)) * 4)
    assert closed
    # An unknown command.
    odd = encode_message(3, Message(COMMAND_AMF0, 0, 0, amf0.encode("formatHardDisk", 2, None)), 128)
    _, closed = await _raw(port, _connect("live"), odd)
    assert closed
    # Media before publish.
    _, closed = await _raw(port, _connect("live"), encode_message(4, Message(9, 1, 0, b"\x17\x01\x00\x00\x00"), 128))
    assert closed
    # A wrong token in the URL is refused at connect, with the reason.
    messages, closed = await _raw(port, _connect("live/test-show/alpha?token=not-a-token"))
    assert closed
    [[name, _, _, info]] = _commands(messages)
    assert name == "_error" and info["code"] == "NetConnection.Connect.Rejected", info
    assert "join token refused" in info["description"]
    # The HTTP side and the program never noticed.
    status, state = await ingest.api("GET", "/api/shows/test-show")
    assert status == 200 and state["mixer"]["ticks"] > 0


async def test_rtmp_studio_goes_on_program(ingest: IngestServer) -> None:
    status, links = await ingest.api("GET", "/api/shows/test-show/links")
    assert status == 200
    alpha = next(link for link in links["links"] if link["studio"] == "alpha")
    assert alpha["rtmp_key"] == alpha["token"] and alpha["rtmp_server"].endswith("/live/test-show/alpha")
    assert alpha["rtmp_url"] == f"{alpha['rtmp_server']}?token={alpha['token']}"

    publisher = spawn_publisher(ingest.rtmp_url("alpha"), seconds=30, colour="red")
    try:
        state = await ingest.wait_for(lambda s: ingest.studio(s, "alpha")["online"], timeout=30)
        stats = ingest.studio(state, "alpha")["stats"]
        assert stats["transport"] == "rtmp" and stats["tally"] is False, stats
        status, body = await ingest.api("POST", "/api/shows/test-show/cut", json={"studio": "alpha"})
        assert status == 200, body
        await ingest.wait_for(lambda s: s.get("fallback") is None and s["program"] == "alpha", timeout=15)
        flv = await record_flv(f"{ingest.url}/live/test-show.flv", 4.0)
        colours = (await asyncio.to_thread(decode, flv, "flv")).colours
        assert colours.count("red") > len(colours) // 2, colours  # the encoder's red picture is on air
        level = await asyncio.to_thread(_audio_rms_dbfs, flv)
        print(f"\nprogram audio with the RTMP studio on air: {level:.1f} dBFS")
        assert level > -40, level  # its 440 Hz tone (-17 dBFS sent) is in the mix; the slate is silent
        state = await ingest.wait_for(lambda s: (ingest.studio(s, "alpha")["stats"] or {}).get("fps"), timeout=10)
        stats = ingest.studio(state, "alpha")["stats"]
        print(f"\nRTMP studio: {stats['resolution']} {stats['fps']} fps {stats['bitrate_kbps']} kbit/s")
        assert stats["resolution"] == "320x180" and stats["audio_frames"] > 0
        # Kicked: the session ends, and so does the encoder's connection.
        status, body = await ingest.api("POST", "/api/shows/test-show/studios/alpha/kick")
        assert status == 200, body
        await ingest.wait_for(lambda s: not ingest.studio(s, "alpha")["online"], timeout=20)
        out, _ = await asyncio.to_thread(publisher.communicate, timeout=20)
        assert publisher.returncode == 1 and "done" not in out, out
    finally:
        publisher.kill()
        publisher.wait(10)


async def test_wrong_and_revoked_tokens_are_refused(ingest: IngestServer) -> None:
    wrong = spawn_publisher(ingest.rtmp_url("alpha", token="not-a-token"), seconds=5)
    other = spawn_publisher(ingest.rtmp_url("alpha", token=ingest.token("bravo")), seconds=5)  # bravo's token
    for proc in (wrong, other):
        out, _ = await asyncio.to_thread(proc.communicate, timeout=30)
        assert proc.returncode == 1 and "refused" in out and "publishing" not in out, out
    old = ingest.token("alpha")
    status, body = await ingest.api("POST", "/api/shows/test-show/studios/alpha/reissue")
    assert status == 200, body
    revoked = spawn_publisher(ingest.rtmp_url("alpha", token=old), seconds=5)
    out, _ = await asyncio.to_thread(revoked.communicate, timeout=30)
    assert revoked.returncode == 1 and "refused" in out, out
    _, state = await ingest.api("GET", "/api/shows/test-show")
    assert not ingest.studio(state, "alpha")["online"] and ingest.studio(state, "alpha")["stats"] is None


@pytest.mark.skipif(not chromium.available(), reason="chromium is not installed")
async def test_control_page_shows_the_rtmp_url_and_no_tally(ingest: IngestServer) -> None:
    publisher = spawn_publisher(ingest.rtmp_url("alpha"), seconds=60, colour="green")
    try:
        await ingest.wait_for(lambda s: ingest.studio(s, "alpha")["online"], timeout=30)
        async with Chromium(lang="zh-CN") as browser:
            page = await open_control(browser, ingest)
            await sign_in(page, token=OPERATOR)
            await click(page, "[data-tab=studios]")
            row = "#studio-table [data-studio=alpha]"
            await page.wait_for(f"document.querySelector('{row} .rtmp').textContent.includes('rtmp://')", timeout=15)
            assert await page.evaluate(f"getComputedStyle(document.querySelector('{row} .rtmp-row')).display") != "none"
            title = await page.evaluate(f"document.querySelector('{row} .rtmp').title")
            assert title.startswith(f"rtmp://127.0.0.1:{ingest.rtmp_port}/live/test-show/alpha?token="), title
            await page.wait_for(f"document.querySelector('{row} .badge').textContent.includes('no tally')", timeout=15)
            # A WebRTC studio's badge says nothing of the kind.
            other = "document.querySelector('#studio-table [data-studio=bravo] .badge').textContent"
            assert "RTMP" not in await page.evaluate(other)
    finally:
        publisher.kill()
        publisher.wait(10)


async def test_the_token_as_the_stream_key(ingest: IngestServer) -> None:
    """OBS and hardware encoders: server URL rtmp://host:port/live/{show}/{studio}, key = the token."""
    _, links = await ingest.api("GET", "/api/shows/test-show/links")
    bravo = next(link for link in links["links"] if link["studio"] == "bravo")
    publisher = spawn_publisher(f"{bravo['rtmp_server']}/{bravo['rtmp_key']}", seconds=30, colour="blue")
    try:
        state = await ingest.wait_for(lambda s: ingest.studio(s, "bravo")["online"], timeout=30)
        assert ingest.studio(state, "bravo")["stats"]["transport"] == "rtmp"
        assert not ingest.studio(state, "alpha")["online"]
    finally:
        publisher.kill()
        publisher.wait(10)


async def test_the_newest_publish_takes_the_studio_and_its_transport_says_which(ingest: IngestServer) -> None:
    """README: an RTMP push and then a WHIP encoder on one studio; its stats' ``transport`` follows."""

    def transport(state: dict[str, Any]) -> object:
        return (ingest.studio(state, "alpha")["stats"] or {}).get("transport")

    publisher = spawn_publisher(ingest.rtmp_url("alpha"), seconds=60, colour="green")
    whip = None
    try:
        await ingest.wait_for(lambda s: transport(s) == "rtmp", timeout=30)
        whip = spawn_test_studio(ingest, "alpha", width=320, height=180, bitrate=300_000)
        state = await ingest.wait_for(lambda s: transport(s) == "whip", timeout=30)
        assert ingest.studio(state, "alpha")["online"], ingest.studio(state, "alpha")
    finally:
        publisher.kill()
        publisher.wait(10)
        stop_processes([whip], 10)


@pytest.mark.parametrize(
    ("video_codec", "audio_codec", "reason"),
    [
        ("libx265", "aac", "video codec 'hvc1' (enhanced RTMP)"),
        ("libvpx-vp9", "aac", "video codec 'vp09' (enhanced RTMP)"),
        ("flv1", "aac", "video codec id 2 (Sorenson H.263)"),
        ("libx264", "libmp3lame", "audio format 2 (MP3)"),
    ],
)
async def test_codecs_we_cannot_use_are_refused(
    ingest: IngestServer, caplog: pytest.LogCaptureFixture, video_codec: str, audio_codec: str, reason: str
) -> None:
    """The encoder hears why at its first unusable tag (its push fails) instead of pushing into nothing."""
    proc = spawn_publisher(ingest.rtmp_url("alpha"), seconds=20, video_codec=video_codec, audio_codec=audio_codec)
    try:
        out, _ = await asyncio.to_thread(proc.communicate, timeout=30)
    finally:
        proc.kill()
        proc.wait(10)
    assert proc.returncode == 1 and "done" not in out, out
    assert reason in caplog.text, caplog.text  # the server's log names the codec as the encoder sent it
    status, state = await ingest.api("GET", "/api/shows/test-show")
    assert status == 200 and not ingest.studio(state, "alpha")["online"] and state["mixer"]["ticks"] > 0
    # The server keeps serving: a good push still goes online.
    good = spawn_publisher(ingest.rtmp_url("alpha"), seconds=20)
    try:
        await ingest.wait_for(lambda s: ingest.studio(s, "alpha")["online"], timeout=30)
    finally:
        good.kill()
        good.wait(10)


async def test_the_refusal_reaches_the_encoder(ingest: IngestServer) -> None:
    """Enhanced RTMP video (IsExHeader, FourCC av01) from a raw client: NetStream.Publish.Rejected, closed."""
    publish = [
        _connect(f"live/test-show/alpha?token={ingest.token('alpha')}"),
        encode_message(3, Message(COMMAND_AMF0, 0, 0, amf0.encode("createStream", 2, None)), 128),
        encode_message(3, Message(COMMAND_AMF0, 1, 0, amf0.encode("publish", 3, None, "", "live")), 128),
    ]
    av1 = bytes([0x80 | 0x10 | 0]) + b"av01" + bytes(16)  # keyframe, ExHeader, PacketTypeSequenceStart
    messages, closed = await _raw(ingest.rtmp_port, *publish, encode_message(4, Message(9, 1, 0, av1), 128))
    assert closed
    statuses = [values[3] for values in _commands(messages) if values[0] == "onStatus"]
    assert [s["code"] for s in statuses] == ["NetStream.Publish.Start", "NetStream.Publish.Rejected"], statuses
    assert "'av01' (enhanced RTMP) is not supported" in statuses[1]["description"]


async def test_an_aac_only_push_is_an_audio_only_studio(ingest: IngestServer) -> None:
    """Like a WHIP studio that sends no video: online, audio_only, on air as its studio card with its sound."""
    publisher = spawn_publisher(ingest.rtmp_url("alpha"), seconds=40, video_codec="none")
    try:
        state = await ingest.wait_for(lambda s: ingest.studio(s, "alpha")["online"], timeout=30)
        studio = ingest.studio(state, "alpha")
        assert studio["audio_only"] is True and studio["stats"]["transport"] == "rtmp", studio
        status, body = await ingest.api("POST", "/api/shows/test-show/cut", json={"studio": "alpha"})
        assert status == 200, body
        await ingest.wait_for(lambda s: s.get("fallback") is None and s["program"] == "alpha", timeout=15)
        flv = await record_flv(f"{ingest.url}/live/test-show.flv", 4.0)
        level = await asyncio.to_thread(_audio_rms_dbfs, flv)
        assert level > -40, level  # its tone is on air (the slate is silent)
        _, state = await ingest.api("GET", "/api/shows/test-show")
        assert state.get("fallback") is None and state["program"] == "alpha", state
    finally:
        publisher.kill()
        publisher.wait(10)


async def test_audio_only_until_video_comes(ingest: IngestServer) -> None:
    """Audio tags alone for 2 s make the studio audio only; a video tag after all takes the card away."""
    reader, writer = await asyncio.open_connection("127.0.0.1", ingest.rtmp_port)
    try:
        writer.write(handshake_c0c1())
        answer = await asyncio.wait_for(reader.readexactly(1 + 2 * HANDSHAKE_SIZE), 10)
        writer.write(answer[1 : 1 + HANDSHAKE_SIZE])
        writer.write(_connect(f"live/test-show/alpha?token={ingest.token('alpha')}"))
        writer.write(encode_message(3, Message(COMMAND_AMF0, 0, 0, amf0.encode("createStream", 2, None)), 128))
        writer.write(encode_message(3, Message(COMMAND_AMF0, 1, 0, amf0.encode("publish", 3, None, "", "live")), 128))
        aac_config = b"\xaf\x00\x11\x90"  # AAC LC, 48 kHz, stereo
        writer.write(encode_message(4, Message(8, 1, 0, aac_config), 128))
        await writer.drain()
        state = await ingest.wait_for(lambda s: ingest.studio(s, "alpha")["audio_only"], timeout=15)
        assert ingest.studio(state, "alpha")["online"]
        writer.write(encode_message(4, Message(9, 1, 100, b"\x17\x01\x00\x00\x00"), 128))  # an AVC tag
        await writer.drain()
        await ingest.wait_for(lambda s: ingest.studio(s, "alpha")["audio_only"] is False, timeout=15)
    finally:
        writer.close()
