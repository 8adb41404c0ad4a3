"""HLS output: real x264/AAC encodes in, segments and playlists out, decoded back with PyAV."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.hlsoutput import PLAYLIST_NAME, HlsOutput
from mixer.outputs.hlsplaylist import parse_playlist
from mixer.outputs.packetqueue import PacketQueue
from orchestrator.views.live import hls_file_response
from tests.mediacheck import Decoded, assert_continuous, decode

FPS = 30
SECONDS = 7
WIDTH, HEIGHT = 320, 240
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]  # red, green, blue: a new one each second
NAMES = ["red", "green", "blue"]
BIG = 4096  # tests feed everything at once: room for all of it, no drops


# --- media -------------------------------------------------------------------------


def _encode_video(seconds: int) -> list[EncodedPacket]:
    ctx = av.CodecContext.create("libx264", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height, ctx.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    ctx.time_base = Fraction(1, FPS)
    ctx.framerate = Fraction(FPS)
    # No global-header flag: SPS/PPS in-band on every keyframe, like the program encoder.
    ctx.options = {
        "preset": "veryfast",
        "tune": "zerolatency",
        "bf": "0",
        "g": str(FPS),
        "keyint_min": str(FPS),
        "sc_threshold": "0",
    }
    out: list[EncodedPacket] = []
    for i in range(FPS * seconds):
        rgb = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        rgb[:] = COLOURS[(i // FPS) % len(COLOURS)]
        x = (i * 7) % (WIDTH - 16)
        rgb[HEIGHT - 24 :, x : x + 16] = 255  # a moving block: P-frames carry something
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = i, ctx.time_base
        out += [EncodedPacket.from_av("video", p) for p in ctx.encode(frame)]
    out += [EncodedPacket.from_av("video", p) for p in ctx.encode(None)]
    return out


def _encode_audio(seconds: int) -> tuple[list[EncodedPacket], bytes]:
    ctx = av.CodecContext.create("aac", "w")
    assert isinstance(ctx, av.AudioCodecContext)
    ctx.sample_rate, ctx.layout, ctx.format = 48000, "stereo", "fltp"
    ctx.time_base = Fraction(1, 48000)
    ctx.bit_rate = 128_000
    ctx.open()
    out: list[EncodedPacket] = []
    t = np.arange(1024) / 48000
    for n in range(seconds * 48000 // 1024):
        tone = (0.2 * np.sin(2 * np.pi * 440 * (t + n * 1024 / 48000))).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48000, n * 1024, ctx.time_base
        out += [EncodedPacket.from_av("audio", p) for p in ctx.encode(frame)]
    out += [EncodedPacket.from_av("audio", p) for p in ctx.encode(None)]
    assert ctx.extradata
    return out, bytes(ctx.extradata)


@dataclasses.dataclass(frozen=True)
class Media:
    fmt: ProgramFormat
    packets: list[EncodedPacket]  # in encoder output order (by dts, video first on ties)

    def first(self, seconds: float) -> list[EncodedPacket]:
        return [p for p in self.packets if p.dts * p.time_base < seconds]


@pytest.fixture(scope="module")
def media() -> Media:
    video = _encode_video(SECONDS)
    audio, asc = _encode_audio(SECONDS)
    packets = sorted(video + audio, key=lambda p: (p.dts * p.time_base, p.kind != "video"))
    return Media(ProgramFormat(WIDTH, HEIGHT, FPS, audio_extradata=asc), packets)


def run_output(out: HlsOutput, fmt: ProgramFormat, packets: Iterable[EncodedPacket]) -> HlsOutput:
    """Feed as fast as put() returns (far faster than real time), then close."""
    out.start(fmt)
    for packet in packets:
        out.put(packet)
    out.close()
    return out


def tags(text: str, tag: str) -> list[str]:
    found = [line.partition(":") for line in text.splitlines()]
    return [value for name, _, value in found if name == tag]


def decode_segments(directory: Path, names: Iterable[str]) -> None:
    """Each segment alone: starts with PAT/PMT then a keyframe, decodes without the one before it."""
    for name in names:
        data = (directory / name).read_bytes()
        assert data[0] == 0x47 and len(data) % 188 == 0
        assert ((data[1] & 0x1F) << 8 | data[2]) in (0x0000, 0x0011), "segment does not open with PSI"
        with av.open(str(directory / name)) as container:
            video = container.streams.video[0]
            first = next(p for p in container.demux(video) if p.size)
            assert first.is_keyframe, f"{name} does not start with a keyframe"
            frames = first.decode()
            assert frames and frames[0].key_frame


def no_corrupt_packets(playlist: Path) -> int:
    """Demux the whole playlist; TS continuity errors across segments would flag packets corrupt."""
    corrupt = 0
    with av.open(str(playlist)) as container:
        for packet in container.demux():
            corrupt += bool(packet.size and packet.is_corrupt)
    return corrupt


# --- tests ----------------------------------------------------------------------------


def test_playlist_segments_and_decoded_program(tmp_path: Path, media: Media) -> None:
    # end_list_on_close: FFmpeg's HLS demuxer reads a live playlist from its live edge and waits.
    out = HlsOutput(tmp_path, segment_seconds=2.0, window=6, queue_size=BIG, end_list_on_close=True)
    run_output(out, media.fmt, media.packets)

    status = out.status()
    assert status["segments_written"] == 4  # keyframes every second, cut every 2 s: 2+2+2+1
    assert status["dropped_packets"] == 0 and status["errors"] == 0 and status["last_error"] is None
    assert status["media_sequence"] == 0 and status["next_sequence"] == 4

    text = (tmp_path / PLAYLIST_NAME).read_text()
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    assert tags(text, "#EXT-X-TARGETDURATION") == ["2"]
    assert tags(text, "#EXT-X-MEDIA-SEQUENCE") == ["0"]
    assert tags(text, "#EXT-X-DISCONTINUITY-SEQUENCE") == ["0"]
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in lines
    assert "#EXT-X-DISCONTINUITY" not in lines and lines[-1] == "#EXT-X-ENDLIST"
    assert [float(d.rstrip(",")) for d in tags(text, "#EXTINF")] == [2.0, 2.0, 2.0, 1.0]

    playlist = parse_playlist(text)
    names = [s.name for s in playlist.segments]
    assert len(set(names)) == 4 and all(re.fullmatch(r"[0-9a-f]{18}-\d{6}\.ts", n) for n in names)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([PLAYLIST_NAME, *names])
    pdts = [s.program_date_time for s in playlist.segments]
    assert all(p is not None for p in pdts) and len(tags(text, "#EXT-X-PROGRAM-DATE-TIME")) == 4
    steps = [b - a for a, b in zip(pdts, pdts[1:], strict=False)]  # type: ignore[operator]
    assert steps == pytest.approx([2.0, 2.0, 2.0], abs=0.002)  # PDT follows media time
    decode_segments(tmp_path, names)

    d = decode(str(tmp_path / PLAYLIST_NAME))
    assert len(d.video_pts) == FPS * SECONDS
    assert_continuous(d, FPS)  # monotonic, constant rate, keyframe every 30 frames, audio present
    assert d.keyframes[0] == 0
    # The picture: one colour per second, in order, none lost or shifted.
    runs = [colour for colour, _ in d.runs()]
    assert runs == [NAMES[i % 3] for i in range(SECONDS)]
    assert all(count == FPS for _, count in d.runs())
    assert no_corrupt_packets(tmp_path / PLAYLIST_NAME) == 0


def test_program_date_time_is_the_program_clocks_wall_time(tmp_path: Path, media: Media) -> None:
    """With the clock's origin known, a segment's date is when its first frame was composed,
    not when it reached the output (here: all at once, far faster than real time)."""
    origin = 1_778_400_000.25  # 2026-05-10 08:00:00.25 UTC
    fmt = dataclasses.replace(media.fmt, time_origin=origin)
    skipped = [p for p in media.packets if not (p.kind == "video" and 30 <= p.pts < 36)]  # dropped frames
    out = run_output(HlsOutput(tmp_path, 2.0, 10, queue_size=BIG), fmt, skipped)
    playlist = parse_playlist((tmp_path / PLAYLIST_NAME).read_text())
    starts = [0.0, 2.0, 4.0, 6.0]
    assert [s.program_date_time for s in playlist.segments] == pytest.approx([origin + t for t in starts], abs=1e-3)
    assert [s.duration for s in playlist.segments] == pytest.approx([2.0, 2.0, 2.0, 1.0], abs=1e-3)
    assert out.errors == 0


def test_window_deletes_old_segments_and_restart_continues(tmp_path: Path, media: Media) -> None:
    seen: list[str] = []
    stop = threading.Event()
    torn: list[str] = []

    def poll_playlist() -> None:
        # An HTTP reader's view: every read is a whole playlist (write temp + rename).
        path = tmp_path / PLAYLIST_NAME
        while not stop.is_set():
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue
            if not (text.startswith("#EXTM3U\n") and text.endswith((".ts\n", "#EXT-X-ENDLIST\n"))):
                torn.append(text)

    poller = threading.Thread(target=poll_playlist)
    poller.start()
    try:
        # Run 1: 7 one-second segments, window 3, one extra kept for late readers.
        out1 = HlsOutput(tmp_path, 1.0, 3, retain_extra=1, queue_size=BIG)
        run_output(out1, media.fmt, media.packets)
        first = parse_playlist((tmp_path / PLAYLIST_NAME).read_text())
        assert out1.status()["segments_written"] == 7
        assert first.media_sequence == 4 and [s.sequence for s in first.segments] == [4, 5, 6]
        on_disk = sorted(p.name for p in tmp_path.glob("*.ts"))
        assert len(on_disk) == 4 and set(on_disk) >= {s.name for s in first.segments}
        seen += on_disk

        # Run 2, same directory, a new encode whose timestamps restart at 0: 1.5 s.
        out2 = HlsOutput(tmp_path, 1.0, 3, retain_extra=1, queue_size=BIG, end_list_on_close=True)
        run_output(out2, media.fmt, media.first(1.5))
        text = (tmp_path / PLAYLIST_NAME).read_text()
        second = parse_playlist(text)
        assert out2.status()["segments_written"] == 2
        assert [s.sequence for s in second.segments] == [6, 7, 8]  # the sequence continues
        assert [s.discontinuity for s in second.segments] == [False, True, False]
        assert text.count("#EXT-X-DISCONTINUITY\n") == 1
        assert second.segments[0].name == first.segments[-1].name  # old segment still listed
        seen += [s.name for s in second.segments[1:]]
        pdts = [s.program_date_time or 0.0 for s in second.segments]
        assert pdts == sorted(pdts)  # never back in time, even when a restart outruns the old media
        d = decode(str(tmp_path / PLAYLIST_NAME))
        assert len(d.video_pts) == FPS + FPS + FPS // 2  # decodes across the discontinuity

        # Run 3: both discontinuities slide out of the window; the count remembers them.
        out3 = HlsOutput(tmp_path, 1.0, 3, retain_extra=1, queue_size=BIG)
        run_output(out3, media.fmt, media.packets)
        text = (tmp_path / PLAYLIST_NAME).read_text()
        third = parse_playlist(text)
        assert out3.status()["media_sequence"] == 13
        assert [s.sequence for s in third.segments] == [13, 14, 15]
        assert tags(text, "#EXT-X-DISCONTINUITY-SEQUENCE") == ["2"]
        assert "#EXT-X-DISCONTINUITY" not in text.splitlines()
        assert "#EXT-X-ENDLIST" not in text  # a restart reopens an ended playlist
        on_disk = sorted(p.name for p in tmp_path.glob("*.ts"))
        assert len(on_disk) == 4  # disk stays bounded: window + retain_extra
        seen += [n for n in on_disk if n not in seen]
    finally:
        stop.set()
        poller.join()
    assert not torn, f"a reader saw a partial playlist: {torn[0]!r}"
    assert len(seen) == len(set(seen))  # names never reused across restarts
    assert not list(tmp_path.glob("*.tmp"))


def test_full_queue_drops_oldest_and_keeps_video_decodable(tmp_path: Path, media: Media) -> None:
    queue = PacketQueue(maxsize=24)
    delivered: list[EncodedPacket] = []
    for i, packet in enumerate(media.packets):
        queue.put(packet, 0.0)
        if i % 60 == 59:  # a consumer that only wakes now and then
            delivered += [p for p, _ in queue.take_all(0)]
    delivered += [p for p, _ in queue.take_all(0)]
    assert queue.dropped > 0
    assert queue.dropped + len(delivered) == len(media.packets)

    video = [p for p in delivered if p.kind == "video"]
    assert video[0].keyframe
    for before, after in zip(video, video[1:], strict=False):
        if after.pts != before.pts + 1:  # a hole: video resumes only on a keyframe
            assert after.keyframe, f"video resumes at pts {after.pts} without a keyframe"
    audio = [p for p in delivered if p.kind == "audio"]
    assert audio, "audio must not be starved by video"

    # What got through is decodable end to end: every delivered frame comes back.
    run_output(HlsOutput(tmp_path, 1.0, 10, queue_size=BIG, end_list_on_close=True), media.fmt, delivered)
    d = decode(str(tmp_path / PLAYLIST_NAME))
    assert len(d.video_pts) == len(video)
    assert all(b > a for a, b in zip(d.video_pts, d.video_pts[1:], strict=False))


def test_muxer_error_is_recorded_and_output_resumes_on_next_keyframe(tmp_path: Path, media: Media) -> None:
    packets = list(media.packets)
    # A video frame repeated at 2.5 s: a non-monotonic DTS, which the TS muxer refuses.
    bad = next(i for i, p in enumerate(packets) if p.kind == "video" and p.pts == 75)
    packets.insert(bad + 1, packets[bad])
    out = run_output(HlsOutput(tmp_path, 1.0, 10, queue_size=BIG, end_list_on_close=True), media.fmt, packets)

    status = out.status()
    assert status["errors"] == 1 and status["last_error"]
    assert status["running"] is False
    text = (tmp_path / PLAYLIST_NAME).read_text()
    playlist = parse_playlist(text)
    # [0-1] [1-2] | [2-3] lost | DISCONTINUITY [3-4] ... [6-7]
    assert [s.sequence for s in playlist.segments] == [0, 1, 2, 3, 4, 5]
    assert [s.discontinuity for s in playlist.segments] == [False, False, True, False, False, False]
    assert len(list(tmp_path.glob("*.ts"))) == 6  # the broken segment's file is gone
    pdts = [s.program_date_time or 0.0 for s in playlist.segments]
    assert pdts[2] - pdts[1] == pytest.approx(2.0, abs=0.002)  # the gap is a real second of media
    decode_segments(tmp_path, [s.name for s in playlist.segments])
    d: Decoded = decode(str(tmp_path / PLAYLIST_NAME))
    assert len(d.video_pts) == FPS * (SECONDS - 1)


def test_timestamp_jump_in_one_run_starts_a_new_timeline(tmp_path: Path, media: Media) -> None:
    # The encoder restarts under a running output: its timestamps begin again at 0.
    packets = media.first(2.5) + media.first(2.5)
    out = run_output(HlsOutput(tmp_path, 1.0, 10, queue_size=BIG, end_list_on_close=True), media.fmt, packets)
    playlist = parse_playlist((tmp_path / PLAYLIST_NAME).read_text())
    assert [s.discontinuity for s in playlist.segments] == [False, False, False, True, False, False]
    assert [round(s.duration, 3) for s in playlist.segments] == [1.0, 1.0, 0.5, 1.0, 1.0, 0.5]
    pdts = [s.program_date_time or 0.0 for s in playlist.segments]
    assert pdts == sorted(pdts)
    assert out.status()["errors"] == 0
    decode_segments(tmp_path, [s.name for s in playlist.segments])
    assert len(decode(str(tmp_path / PLAYLIST_NAME)).video_pts) == 2 * 75


async def test_serving_playlist_and_segments(tmp_path: Path, media: Media, aiohttp_client: AiohttpClient) -> None:
    show_dir = tmp_path / "live" / "wuhan-0510"
    run_output(HlsOutput(show_dir, 2.0, 6, queue_size=BIG), media.fmt, media.first(4.5))
    (tmp_path / "secret.ts").write_bytes(b"not for you")

    async def handler(request: web.Request) -> web.StreamResponse:
        return hls_file_response(tmp_path / "live" / request.match_info["show"], request.match_info["name"])

    app = web.Application()
    app.router.add_get("/live/{show}/{name}", handler)
    client = await aiohttp_client(app)

    res = await client.get("/live/wuhan-0510/index.m3u8")
    assert res.status == 200
    assert res.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert res.headers["Cache-Control"] == "max-age=1"
    assert res.headers["Access-Control-Allow-Origin"] == "*"
    playlist = parse_playlist(await res.text())
    assert len(playlist.segments) == 3

    name = playlist.segments[0].name
    res = await client.get(f"/live/wuhan-0510/{name}")
    body = await res.read()
    assert res.status == 200 and body[0] == 0x47
    assert res.headers["Content-Type"] == "video/mp2t"
    assert res.headers["Cache-Control"] == "max-age=3600, immutable"
    assert res.headers["Access-Control-Allow-Origin"] == "*"
    assert body == (show_dir / name).read_bytes()

    res = await client.get(f"/live/wuhan-0510/{name}", headers={"Range": "bytes=188-375"})
    assert res.status == 206 and await res.read() == body[188:376]
    res = await client.head(f"/live/wuhan-0510/{name}")
    assert res.status == 200 and int(res.headers["Content-Length"]) == len(body)

    not_served = [
        "..%2Fsecret.ts",
        "..%2F..%2Fsecret.ts",
        ".index.m3u8.tmp",
        "index.m3u8.gz",
        "no.ts",
        "a.ts.ts",
    ]
    for bad in not_served:
        res = await client.get(f"/live/wuhan-0510/{bad}")
        assert res.status == 404, bad
        assert res.headers["Access-Control-Allow-Origin"] == "*"
    for bad in ["../secret.ts", "../../secret.ts", "/etc/passwd", "x/../index.m3u8", "index.m3u8\x00", ""]:
        with pytest.raises(web.HTTPNotFound):
            hls_file_response(show_dir, bad)


def test_an_abandoned_output_never_writes_the_playlist_again(tmp_path: Path, media: Media) -> None:
    """A node that lost its show (orchestrator/cluster.py) must not overwrite the playlist the new
    owner now writes in the shared directory, not even with its last segment at close."""
    out = HlsOutput(tmp_path, segment_seconds=2.0, window=6, queue_size=BIG)
    out.start(media.fmt)
    for packet in media.first(3.5):
        out.put(packet)
    playlist = tmp_path / PLAYLIST_NAME
    deadline = time.monotonic() + 10
    while not playlist.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    out.abandon()
    playlist.write_text("#EXTM3U\n# the new owner's\n")
    for packet in media.packets[len(media.first(3.5)) :]:
        out.put(packet)
    out.close()
    assert playlist.read_text() == "#EXTM3U\n# the new owner's\n"
