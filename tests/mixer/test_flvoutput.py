"""HTTP-FLV output: real x264/AAC encodes in, FLV bytes out, decoded back with PyAV."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import threading
import time
from collections.abc import Iterable

import av
import av.logging
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.flvmuxer import FlvMuxer
from mixer.outputs.flvoutput import FlvOutput
from mixer.outputs.h264 import NAL_AUD, NAL_SPS, avc_decoder_config, nal_type, split_annexb
from orchestrator.views.live import stream_flv
from tests import encodedmedia
from tests.encodedmedia import in_encoder_order
from tests.flvpull import read_all

FPS = 30
SECONDS = 3
COLOURS = [(220, 40, 40), (40, 200, 60), (40, 60, 220)]  # one per second


# --- media -------------------------------------------------------------------


def encode_video(width: int = 320, height: int = 240, seconds: int = SECONDS) -> list[EncodedPacket]:
    return encodedmedia.encode_video(width, height, FPS, seconds, COLOURS)


@dataclasses.dataclass
class Media:
    fmt: ProgramFormat
    packets: list[EncodedPacket]  # in program-clock order, as the encoder thread emits them

    def split_at_video(self, n: int) -> tuple[list[EncodedPacket], list[EncodedPacket]]:
        """Packets before the n-th video frame, and the rest."""
        seen = 0
        for i, p in enumerate(self.packets):
            if p.kind == "video":
                if seen == n:
                    return self.packets[:i], self.packets[i:]
                seen += 1
        return self.packets, []


@pytest.fixture(scope="module")
def media() -> Media:
    video = encode_video()
    audio, asc = encodedmedia.encode_audio(SECONDS)
    packets = in_encoder_order(video, audio)
    fmt = ProgramFormat(width=320, height=240, fps=FPS, audio_extradata=asc)
    return Media(fmt, packets)


# --- helpers ---------------------------------------------------------------


def feed(output: FlvOutput, packets: Iterable[EncodedPacket], pace: float = 0.0) -> None:
    """The encoder thread: put() every packet, optionally sleeping per video frame."""
    for packet in packets:
        output.put(packet)
        if pace and packet.kind == "video":
            time.sleep(pace)


async def run_encoder(output: FlvOutput, packets: list[EncodedPacket], pace: float = 0.0) -> None:
    # The worker posts its result with call_soon_threadsafe after the last put(), so every
    # tag has been delivered on the loop by the time this returns (FIFO).
    await asyncio.to_thread(feed, output, packets, pace)


@dataclasses.dataclass
class Tag:
    type: int
    ts: int
    body: bytes


def walk_tags(data: bytes) -> list[Tag]:
    """Independent FLV parser: every tag boundary and PreviousTagSize must line up."""
    assert data[:5] == b"FLV\x01\x05", data[:5]
    offset = int.from_bytes(data[5:9], "big")
    assert data[offset : offset + 4] == b"\x00\x00\x00\x00"
    offset += 4
    tags: list[Tag] = []
    while offset < len(data):
        size = int.from_bytes(data[offset + 1 : offset + 4], "big")
        ts = int.from_bytes(data[offset + 4 : offset + 7], "big") | (data[offset + 7] << 24)
        body = data[offset + 11 : offset + 11 + size]
        prev = int.from_bytes(data[offset + 11 + size : offset + 15 + size], "big")
        assert prev == size + 11
        tags.append(Tag(data[offset], ts, body))
        offset += 15 + size
    assert offset == len(data)
    return tags


@dataclasses.dataclass
class Decoded:
    video_pts: list[int]
    video_keyframes: list[bool]
    colours: list[tuple[float, ...]]
    audio_frames: int
    audio_rms: list[float]
    problems: list[str]
    width: int
    height: int


def decode_flv(data: bytes) -> Decoded:
    """Demux and decode with FFmpeg (PyAV), collecting every warning or error it logs."""
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.WARNING)
    result = Decoded([], [], [], 0, [], [], 0, 0)
    try:
        # local=False: the h264 decoder logs from its frame threads.
        with av.logging.Capture(local=False) as logs, av.open(io.BytesIO(data), format="flv") as container:
            assert isinstance(container, av.container.InputContainer)
            for packet in container.demux():
                if packet.size == 0:
                    continue
                for frame in packet.decode():
                    if isinstance(frame, av.VideoFrame):
                        assert packet.pts is not None
                        result.video_pts.append(packet.pts)
                        result.video_keyframes.append(packet.is_keyframe)
                        rgb = frame.to_ndarray(format="rgb24")[: frame.height // 2]
                        result.colours.append(tuple(float(c) for c in rgb.mean(axis=(0, 1))))
                        result.width, result.height = frame.width, frame.height
                    elif isinstance(frame, av.AudioFrame):
                        result.audio_frames += 1
                        result.audio_rms.append(float(np.sqrt(np.mean(frame.to_ndarray() ** 2))))
        result.problems = [f"{name}: {msg}" for level, name, msg in logs if level <= av.logging.WARNING]
    finally:
        av.logging.set_level(previous)
    return result


def assert_clean_video(d: Decoded, frames: int, first_second: int) -> None:
    assert d.problems == []
    assert len(d.video_pts) == frames
    assert (d.width, d.height) == (320, 240)
    steps = np.diff(d.video_pts)
    assert set(steps.tolist()) <= {33, 34}, steps  # constant 30 fps in ms
    assert d.video_pts[0] == first_second * 1000
    keys = [i for i, k in enumerate(d.video_keyframes) if k]
    assert keys == list(range(0, frames, FPS))
    for pts, colour in zip(d.video_pts, d.colours, strict=True):
        expected = COLOURS[pts // 1000 % len(COLOURS)]
        assert np.abs(np.subtract(colour, expected)).max() < 16, (pts, colour, expected)


# --- muxer units ---------------------------------------------------------------


def test_split_annexb_handles_3_and_4_byte_start_codes() -> None:
    au = b"\x00\x00\x00\x01\x67\x64\x00\x0d" + b"\x00\x00\x01\x68\xee" + b"\x00\x00\x00\x01\x65\x88\x00\x00\x03\x01"
    assert split_annexb(au) == [b"\x67\x64\x00\x0d", b"\x68\xee", b"\x65\x88\x00\x00\x03\x01"]


def test_avc_config_from_real_keyframe(media: Media) -> None:
    nals = split_annexb(next(p for p in media.packets if p.kind == "video").data)
    sps = [n for n in nals if nal_type(n) == NAL_SPS]
    pps = [n for n in nals if nal_type(n) == 8]
    config = avc_decoder_config(sps, pps)
    assert config[:4] == bytes([1, sps[0][1], sps[0][2], sps[0][3]])
    assert config[4] == 0xFF  # 4-byte NAL lengths
    assert sps[0][1] == 100  # x264 High: the avcC ends with chroma 4:2:0, 8-bit, no SPS-ext
    assert config[-4:] == b"\xfd\xf8\xf8\x00"


def test_muxer_tags(media: Media) -> None:
    muxer = FlvMuxer(media.fmt)
    tags = [t for p in media.packets for t in muxer.mux(p)]
    assert muxer.header is not None
    parsed = walk_tags(muxer.header + b"".join(t.data for t in tags))
    script, avc_seq, aac_seq = parsed[:3]
    assert script.type == 18 and b"onMetaData" in script.body and b"framerate" in script.body
    assert avc_seq.type == 9 and avc_seq.body[:2] == b"\x17\x00"
    assert aac_seq.type == 8 and aac_seq.body == b"\xaf\x00" + media.fmt.audio_extradata
    assert parsed[3].type == 9 and parsed[3].body[:5] == b"\x17\x01\x00\x00\x00"  # opens on a keyframe
    last = {8: -1, 9: -1}
    for t in parsed[3:]:
        assert t.ts >= last[t.type]
        last[t.type] = t.ts
        if t.type == 9:
            assert t.body[2:5] == b"\x00\x00\x00"  # composition time 0
            body, types = t.body[5:], []
            while body:  # AVCC: 4-byte lengths that tile the payload exactly
                n = int.from_bytes(body[:4], "big")
                types.append(body[4] & 0x1F)
                body = body[4 + n :]
            assert NAL_AUD not in types and types
            assert (NAL_SPS in types) == (t.body[0] == 0x17)  # in-band SPS/PPS on keyframes only
        else:
            assert t.body[:2] == b"\xaf\x01"
    assert sum(t.type == 9 for t in parsed[3:]) == FPS * SECONDS


def test_sps_change_mid_stream_sends_new_sequence_header(media: Media) -> None:
    muxer = FlvMuxer(media.fmt)
    first = [t for p in media.packets if p.kind == "video" for t in muxer.mux(p)]
    header_before = muxer.header
    offset = FPS * SECONDS
    small = [dataclasses.replace(p, pts=p.pts + offset, dts=p.dts + offset) for p in encode_video(160, 120, 1)]
    second = [t for p in small for t in muxer.mux(p)]
    assert muxer.header != header_before  # new viewers get the new avcC
    assert second[0].data[11:13] == b"\x17\x00" and second[1].keyframe  # in-band for current viewers
    assert header_before is not None
    d = decode_flv(header_before + b"".join(t.data for t in first + second))
    assert len(d.video_pts) == FPS * (SECONDS + 1) and (d.width, d.height) == (160, 120)


def test_stripping_parameter_sets_also_decodes(media: Media) -> None:
    muxer = FlvMuxer(media.fmt, keep_parameter_sets=False)
    body = b"".join(t.data for p in media.packets for t in muxer.mux(p))
    assert muxer.header is not None
    data = muxer.header + body
    for t in walk_tags(data)[3:]:
        if t.type == 9:
            assert t.body[9] & 0x1F not in (NAL_SPS, 8)  # first NAL is no longer the SPS
    assert_clean_video(decode_flv(data), FPS * SECONDS, 0)


# --- FlvOutput -------------------------------------------------------------------


async def test_full_stream_decodes(media: Media) -> None:
    output = FlvOutput(asyncio.get_running_loop())
    reader = output.subscribe()  # before start: waits for the first keyframe
    assert output.status()["waiting_readers"] == 1
    task = asyncio.create_task(read_all(reader))
    output.start(media.fmt)
    await run_encoder(output, media.packets)
    output.close()
    data = await asyncio.wait_for(task, 5)

    tags = walk_tags(data)
    assert [t.type for t in tags[:4]] == [18, 9, 8, 9] and tags[3].body[0] == 0x17
    d = decode_flv(data)
    assert_clean_video(d, FPS * SECONDS, 0)
    assert d.audio_frames >= 46 * SECONDS
    assert min(d.audio_rms[5:]) > 0.1  # the tone survives

    status = output.status()
    assert status["packets_in"] == len(media.packets)
    assert status["bytes_sent"] == len(data)
    assert status["dropped_readers"] == 0 and status["readers"] == 0 and status["closed"]


async def test_mid_stream_reader_starts_on_keyframe(media: Media) -> None:
    output = FlvOutput(asyncio.get_running_loop())
    output.start(media.fmt)
    first_half, second_half = media.split_at_video(45)  # keyframes at 0, 30, 60: GOP cache holds 30..44
    await run_encoder(output, first_half)

    late = output.subscribe()
    task = asyncio.create_task(read_all(late))
    await run_encoder(output, second_half)
    output.close()
    data = await asyncio.wait_for(task, 5)

    tags = walk_tags(data)
    first_frame = tags[3]
    assert first_frame.type == 9 and first_frame.body[:2] == b"\x17\x01" and first_frame.ts == 1000
    d = decode_flv(data)
    assert_clean_video(d, FPS * (SECONDS - 1), 1)
    assert d.audio_frames > 0


async def test_stalled_reader_is_dropped_others_keep_everything(media: Media) -> None:
    # Small backlog so the 3 s test stream (~10 kB) overflows it.
    output = FlvOutput(asyncio.get_running_loop(), max_backlog=6000)
    output.start(media.fmt)
    dropped_callbacks: list[str] = []
    stalled = output.subscribe(on_drop=lambda: dropped_callbacks.append("stalled"))
    live = output.subscribe()
    task = asyncio.create_task(read_all(live))

    pace = 0.015  # ~2x real time: the live reader on a loaded loop keeps up, the stalled one never reads
    started = time.monotonic()
    await run_encoder(output, media.packets, pace=pace)
    feed_time = time.monotonic() - started
    output.close()
    data = await asyncio.wait_for(task, 5)

    assert stalled.dropped and dropped_callbacks == ["stalled"]
    assert await read_all(stalled) == b""  # its iterator just ends
    assert not live.dropped
    assert output.status()["dropped_readers"] == 1
    # The encoder thread was never held up by the stalled reader (a slow machine's sleeps aside).
    assert feed_time < 3 * pace * len(media.packets) + 2.0
    assert_clean_video(decode_flv(data), FPS * SECONDS, 0)


async def test_close_ends_waiting_readers_and_late_subscribers(media: Media) -> None:
    output = FlvOutput(asyncio.get_running_loop())
    waiting = output.subscribe()
    output.close()
    output.close()  # idempotent
    assert await asyncio.wait_for(read_all(waiting), 1) == b""
    assert await asyncio.wait_for(read_all(output.subscribe()), 1) == b""
    output.start(media.fmt)
    output.put(media.packets[0])  # after close: ignored, never raises


async def test_put_never_raises_on_bad_input(media: Media) -> None:
    output = FlvOutput(asyncio.get_running_loop())
    output.put(media.packets[0])  # before start(): ignored
    output.start(media.fmt)
    keyframe = next(p for p in media.packets if p.kind == "video")
    no_sps = b"".join(b"\x00\x00\x00\x01" + n for n in split_annexb(keyframe.data) if nal_type(n) not in (7, 8))
    output.put(dataclasses.replace(keyframe, data=no_sps))  # as if the encoder used a global header
    output.put(dataclasses.replace(keyframe, data=b"\x00\x00\x01"))  # empty access unit
    assert output.status()["mux_errors"] == 2
    reader = output.subscribe()
    await run_encoder(output, media.packets)  # recovers on the next good keyframe
    output.close()
    assert_clean_video(decode_flv(await read_all(reader)), FPS * SECONDS, 0)


# --- HTTP -----------------------------------------------------------------------------


async def _served(
    aiohttp_client: AiohttpClient, media: Media, frames: int
) -> tuple[FlvOutput, TestClient[web.Request, web.Application], list[EncodedPacket]]:
    """An output serving ``GET /live/{show}.flv`` with ``media``'s first ``frames`` video frames
    written: the output, an HTTP client of it, and the rest of the packets."""
    output = FlvOutput(asyncio.get_running_loop())
    output.start(media.fmt)

    async def live(request: web.Request) -> web.StreamResponse:
        return await stream_flv(request, output)

    app = web.Application()
    app.router.add_get("/live/{show}.flv", live)
    client = await aiohttp_client(app)
    first_part, rest = media.split_at_video(frames)
    await run_encoder(output, first_part)
    return output, client, rest


async def test_stream_flv_over_http(aiohttp_client: AiohttpClient, media: Media) -> None:
    output, client, second_half = await _served(aiohttp_client, media, 40)
    response = await client.get("/live/wuhan-0510.flv")
    assert response.status == 200
    assert response.headers["Content-Type"] == "video/x-flv"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "no-cache" in response.headers["Cache-Control"]
    assert response.headers["Transfer-Encoding"] == "chunked"

    body = asyncio.create_task(response.read())  # a real client draining the socket
    encoder = threading.Thread(target=feed, args=(output, second_half, 0.002))
    encoder.start()
    await asyncio.to_thread(encoder.join)
    output.close()  # ends the body cleanly (chunked terminator), so read() returns
    data = await asyncio.wait_for(body, 10)
    assert output.status()["bytes_sent"] == len(data)
    d = decode_flv(data)
    assert_clean_video(d, FPS * (SECONDS - 1), 1)


async def test_stream_flv_client_disconnect(aiohttp_client: AiohttpClient, media: Media) -> None:
    output, client, second_half = await _served(aiohttp_client, media, 35)
    response = await client.get("/live/wuhan-0510.flv")
    head = await response.content.read(16)
    assert head.startswith(b"FLV\x01\x05")
    assert output.status()["readers"] == 1
    response.close()  # the viewer leaves mid-stream

    await run_encoder(output, second_half, pace=0.002)  # next writes see the closed socket
    for _ in range(100):
        if output.status()["readers"] == 0:
            break
        await asyncio.sleep(0.01)
    assert output.status()["readers"] == 0
    assert output.status()["dropped_readers"] == 0  # left on its own, not dropped
    output.close()
