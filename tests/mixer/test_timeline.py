"""One timeline, the program clock's: an overloaded encoder loses frames, never time.

Real x264 throughout.  The overload is real too: a 1440p60 program encoded with
x264's ``veryslow`` preset on one thread takes 30-100 ms per frame on this
machine (depending on the load), so the encoder genuinely cannot keep up.  The outputs are then
decoded and compared with the wall clock.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import pytest
from aiortc import RTCSessionDescription

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.flvoutput import FlvOutput
from mixer.outputs.hlsoutput import PLAYLIST_NAME, HlsOutput
from mixer.outputs.hlsplaylist import parse_playlist
from mixer.outputs.recordingoutput import RecordingOutput
from mixer.outputs.rtmpoutput import RtmpOutput
from mixer.outputs.whepoutput import WhepOutput
from mixer.program import Program
from mixer.programencoder import ProgramEncoder
from rooms.compat import offer_host_addresses, register_h264_high
from rooms.whepsession import answer_viewer
from tests.conftest import Server
from tests.flvpull import read_all
from tests.mediacheck import Decoded, decode
from tests.metricstext import sample
from tests.mixer.test_rtmp import Listener
from tests.peerclient import PeerClient
from tests.ports import free_port

FPS = 30
HEAVY_FPS = 60  # the overloaded program: 1440p60 (1080p60 still reached 50 fps on a quiet box)
RUN_SECONDS = 12.0
RTMP_SECONDS = 7.0  # the RTMP listener leaves after this much media: in about as much wall time
# Allowed error of media time against wall time: the 0.5 s the issue asks for, plus
# what a loaded 2-core box adds (thread wake-ups, the player's polling).  Where a
# check sees the output only after the encoder, the encoder's own latency (its queue
# and one frame's encode, measured in the run) comes on top: that is delay, not drift.
TOLERANCE = 0.5 + 1.0
# A loaded 2-core box also stalls single frames (a thread not scheduled for a while: 2.3 s late
# seen at load 7 against a 1.9 s bound) and delays the clock thread's start after program.start().
# Checks of a single worst case allow this on top; typical (median) values keep the tight bound,
# so a drifting clock (seconds off for most frames) still fails.
STALL = 3.0
AAC_FRAME = 1024 / 48000


@dataclass
class _Capture:
    """A WebRTC-like consumer (Opus audio): what WHEP viewers' RTP timestamps are made from."""

    name: str = "capture"
    audio_codec: str = "opus"
    idle: bool = False
    packets: list[tuple[EncodedPacket, float]] = field(default_factory=list)

    def start(self, fmt: ProgramFormat) -> None:
        pass

    def put(self, packet: EncodedPacket) -> None:
        self.packets.append((packet, time.time()))

    def close(self) -> None:
        pass


class _Viewer(PeerClient):
    """An aiortc WHEP viewer of a :class:`WhepOutput`: (arrival, RTP-timestamp seconds) of what it decodes."""

    def __init__(self) -> None:
        register_h264_high()
        super().__init__()
        self.video: list[tuple[float, float]] = []
        self.audio: list[tuple[float, int, int]] = []  # (arrival, pts in samples, samples)
        self.state = ""  # its connection's state at the end of the run

    async def connect(self, whep: WhepOutput) -> None:
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        session = await answer_viewer(whep, self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(session.answer, "answer"))

    def on_frame(self, frame: Any) -> None:
        now = time.monotonic()
        assert frame.pts is not None and frame.time_base is not None
        if isinstance(frame, av.VideoFrame):
            self.video.append((now, float(frame.pts * frame.time_base)))
        elif isinstance(frame, av.AudioFrame):
            self.audio.append((now, frame.pts, frame.samples))

    async def close(self) -> None:
        await self.close_peer()


def _check_timeline(got: Decoded, wall: float, latency: float, what: str) -> None:
    """Media time follows the wall clock; timestamps monotonic; audio without holes."""
    assert got.video_pts, f"{what}: no video"
    pts = got.video_pts
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False)), f"{what}: video pts not monotonic"
    span = got.video_pts[-1] - got.video_pts[0] + 1 / HEAVY_FPS
    # Short of the wall time by at most what was still in the encoder at stop.
    assert abs(span - wall) <= TOLERANCE + latency, f"{what}: {span:.2f} s of media for {wall:.2f} s of wall time"
    frames = len(got.video_pts)
    assert frames < 0.8 * HEAVY_FPS * span, f"{what}: {frames} frames in {span:.1f} s: the encoder was not overloaded"
    audio = got.audio_samples / 48000
    assert abs(audio - wall) <= TOLERANCE + latency, f"{what}: {audio:.2f} s of audio for {wall:.2f} s of wall time"
    steps = [b - a for a, b in zip(got.audio_pts, got.audio_pts[1:], strict=False)]
    # (FLV has no negative times: the AAC priming frame at -21 ms shares 0 ms with the first one.)
    assert steps and min(steps) >= 0 and min(steps[1:]) > 0, f"{what}: audio pts not monotonic"
    assert max(steps) <= AAC_FRAME + 0.002, f"{what}: audio has a hole of {max(steps):.3f} s"
    # A keyframe opens every second of the clock: the first frame the encoder had time for.
    keys = [got.video_pts[i] for i in got.keyframes]
    gaps = [b - a for a, b in zip(keys, keys[1:], strict=False)]
    longest_frame = max(b - a for a, b in zip(got.video_pts, got.video_pts[1:], strict=False))
    assert gaps and max(gaps) <= 1 + longest_frame + 0.001, f"{what}: keyframe gaps {gaps}"


async def test_overloaded_encoder_loses_frames_never_time(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    fmt = ProgramFormat(2560, 1440, HEAVY_FPS, video_bitrate=2_000_000)
    program = Program(fmt, "Overload", "the encoder cannot keep up", encoder_threads=1, encoder_preset="veryslow")
    hls = HlsOutput(tmp_path / "hls", segment_seconds=2.0, window=100)
    flv = FlvOutput(loop)
    recording = RecordingOutput(tmp_path / "rec", "show", rotate_seconds=600)
    capture = _Capture()
    whep = WhepOutput(loop, "overload", program.encoder.request_keyframe)
    port = free_port()
    listener = Listener(port, tmp_path / "rtmp.flv", RTMP_SECONDS)
    rtmp = RtmpOutput("cdn", f"rtmp://127.0.0.1:{port}/live/secret-key", backoff_min=0.2, backoff_max=0.5)
    for sink in (hls, flv, recording, capture, whep, rtmp):
        program.add_sink(sink)  # type: ignore[arg-type]
    offer_host_addresses(["127.0.0.1"])  # aioice leaves loopback out
    viewer = _Viewer()
    flv_task = asyncio.ensure_future(read_all(flv.subscribe()))
    # What a player polling the playlist sees: when each segment appeared, and its dates.
    seen: dict[str, float] = {}
    playlist_path = tmp_path / "hls" / PLAYLIST_NAME
    rtmp_done: float | None = None
    rtmp_live: float | None = None  # when the push first connected (the listener's start varies with load)
    started = time.time()
    program.start()

    def viewer_watched() -> float:
        spans = [v[-1][0] - v[0][0] if v else 0.0 for v in (viewer.video, viewer.audio)]
        return min(spans)

    try:
        await viewer.connect(whep)
        # The viewer's connection and the RTMP listener's start can take seconds on a loaded box:
        # run on (up to 60 s) until the viewer has watched the half of RUN_SECONDS that
        # _check_whep_viewer asks for and the listener has its RTMP_SECONDS.
        while time.time() - started < RUN_SECONDS or (
            (viewer_watched() < RUN_SECONDS / 2 + 0.5 or rtmp_done is None) and time.time() - started < 60
        ):
            await asyncio.sleep(0.05)
            if playlist_path.exists():
                now = time.time()
                for segment in parse_playlist(playlist_path.read_text()).segments:
                    seen.setdefault(segment.name, now)
            rtmp_live = rtmp_live or rtmp.live_since
            if rtmp_done is None and listener.proc.poll() is not None:
                rtmp_done = time.time()
        stats = program.stats()
        viewer.state = f"{viewer.pc.connectionState}, ICE {viewer.pc.iceConnectionState}"  # for a failure's message
    finally:
        stopped_at = time.time()
        await viewer.close()
        await loop.run_in_executor(None, program.stop)
        flv_data = await asyncio.wait_for(flv_task, 10)
        await whep.aclose()
        offer_host_addresses([])
        listener.kill()
    wall = stopped_at - started

    # Overload is visible: fewer frames than configured, drops counted, the clock kept time.
    assert stats["configured_fps"] == HEAVY_FPS
    assert isinstance(stats["output_fps"], float) and stats["output_fps"] < 0.8 * HEAVY_FPS, stats
    assert isinstance(stats["encoder_dropped"], int) and stats["encoder_dropped"] > 0, stats
    # The clock's tick index (ticks run + ticks skipped when far behind) kept up with the wall
    # clock: a loaded box's clock skips 1440p compositions (1227 of 3588 seen at load 30), never time.
    assert isinstance(stats["ticks"], int) and isinstance(stats["skipped_ticks"], int)
    assert stats["ticks"] + stats["skipped_ticks"] >= 0.9 * HEAVY_FPS * wall, stats
    assert isinstance(stats["encode_ms_avg"], float)
    latency = ProgramEncoder.QUEUE / HEAVY_FPS + 2 * stats["encode_ms_avg"] / 1000

    _check_hls(tmp_path / "hls", seen, started, wall, latency)

    # HTTP-FLV and the fMP4 recording.
    _check_timeline(decode(flv_data, "flv"), wall, latency, "flv")
    files = sorted((tmp_path / "rec").glob("*.mp4"))
    assert len(files) == 1
    _check_timeline(decode(str(files[0])), wall, latency, "recording")

    # RTMP (FFmpeg's listener): its media time came in as fast as the wall clock ran, counted from
    # the first connection (from the program's start it took 15.5 s at load 12: the listener
    # process starts late).
    assert rtmp_done is not None, f"the RTMP listener did not get {RTMP_SECONDS} s of media in {wall:.1f} s"
    assert rtmp_live is not None
    connect = 2.0  # FFmpeg's handshake on a loaded box, a reconnect if the listener was late
    assert rtmp_done - rtmp_live <= RTMP_SECONDS + connect + TOLERANCE + latency + STALL, rtmp_done - rtmp_live
    rtmp_got = decode(str(tmp_path / "rtmp.flv"))
    _check_timeline(rtmp_got, RTMP_SECONDS, latency, "rtmp")

    _check_encoder_packets(capture, program.encoder, started, wall, latency)
    _check_whep_viewer(viewer, latency)


def _check_hls(directory: Path, seen: dict[str, float], started: float, wall: float, latency: float) -> None:
    """Segment durations from pts, dates from the program clock; ``seen``: when a poller first saw each segment."""
    playlist = parse_playlist((directory / PLAYLIST_NAME).read_text())
    segments = playlist.segments
    assert len(segments) >= 3
    media = sum(s.duration for s in segments)
    assert abs(media - wall) <= TOLERANCE + latency, f"playlist lists {media:.2f} s for {wall:.2f} s of wall time"
    first_date = segments[0].program_date_time
    assert first_date is not None
    assert -0.5 <= first_date - started <= 0.5 + STALL, first_date - started  # the clock thread's start
    lags = []
    for segment in segments:
        date = segment.program_date_time
        assert date is not None
        if segment.name in seen:
            # A segment is listed after it ends: its end's date is in the (recent) past.
            lags.append(seen[segment.name] - (date + segment.duration))
    bound = TOLERANCE + latency
    assert lags and min(lags) >= -0.1, f"a segment listed before its end: {lags}"
    median = sorted(lags)[len(lags) // 2]
    assert median <= bound and max(lags) <= bound + STALL, f"PDT behind the wall clock by {lags} (bound {bound})"
    dates = [s.program_date_time or 0.0 for s in segments]
    for a, b in zip(segments, segments[1:], strict=False):
        assert abs((a.program_date_time or 0) + a.duration - (b.program_date_time or 0)) < 0.002, dates
    hls_media = b"".join((directory / s.name).read_bytes() for s in segments)
    _check_timeline(decode(hls_media, "mpegts"), wall, latency, "hls")


def _check_encoder_packets(
    capture: _Capture, encoder: ProgramEncoder, started: float, wall: float, latency: float
) -> None:
    """What WebRTC is sent: video pts are tick numbers (gaps where frames were dropped), Opus has no hole."""
    video = [p.pts for p, _ in capture.packets if p.kind == "video"]
    assert all(b > a for a, b in zip(video, video[1:], strict=False))
    keys = [p.keyframe for p, _ in capture.packets if p.kind == "video"]
    seconds = [pts // HEAVY_FPS for pts in video]
    regular = [True] + [b > a for a, b in zip(seconds, seconds[1:], strict=False)]
    assert all(k for k, r in zip(keys, regular, strict=True) if r), "a second of the clock without a keyframe"
    forced = sum(k and not r for k, r in zip(keys, regular, strict=True))
    assert forced == encoder.forced_keyframes  # the rest: what the WHEP viewer asked for
    assert (video[-1] - video[0]) / HEAVY_FPS == pytest.approx(wall, abs=TOLERANCE + latency)
    opus = [p.pts for p, _ in capture.packets if p.kind == "audio"]
    assert opus and all(b - a == 960 for a, b in zip(opus, opus[1:], strict=False)), "Opus pts not contiguous"
    # Each packet leaves the encoder soon after the wall time its pts stands for.
    origin = encoder.time_origin
    assert origin is not None and -0.1 <= origin - started < STALL, origin - started  # the clock thread's start
    late = sorted(at - (origin + p.pts * float(p.time_base)) for p, at in capture.packets if p.kind == "video")
    median = late[len(late) // 2]
    assert median <= TOLERANCE + latency, f"video left the encoder a median {median:.2f} s after its tick"
    assert late[-1] <= TOLERANCE + latency + STALL, f"video left the encoder up to {late[-1]:.2f} s after its tick"


def _check_whep_viewer(viewer: _Viewer, latency: float) -> None:
    """RTP timestamps (from pts) advance with the wall clock, audio without holes.

    The viewer's start-up, decoder included, delays its first frames: rates are
    compared first (a fit of media time on arrival), then spans.
    """
    assert len(viewer.video) >= 10 and len(viewer.audio) >= 100, (len(viewer.video), len(viewer.audio), viewer.state)
    for kind, arrivals, times in (
        ("video", [a for a, _ in viewer.video], [t for _, t in viewer.video]),
        ("audio", [a for a, _, _ in viewer.audio], [pts / 48000 for _, pts, _ in viewer.audio]),
    ):
        watched = arrivals[-1] - arrivals[0]
        assert watched >= RUN_SECONDS / 2, f"the viewer watched only {watched:.1f} s"
        rate = float(np.polyfit(arrivals, times, 1)[0])  # media seconds per wall second
        assert 0.85 <= rate <= 1.15, f"WHEP {kind}: media runs at {rate:.2f}x the wall clock"
        span = times[-1] - times[0]
        assert abs(span - watched) <= TOLERANCE + latency, f"WHEP {kind}: {span:.2f} s of media in {watched:.2f} s"
    steps = [b[1] - a[1] for a, b in zip(viewer.audio, viewer.audio[1:], strict=False)]
    holes = sum(step != a[2] for step, a in zip(steps, viewer.audio, strict=False))
    assert holes <= 0.02 * len(steps), f"WHEP audio: {holes} holes in {len(steps)} frames"


def _luma(value: int) -> np.ndarray:
    return np.full((180 * 3 // 2, 320), value, np.uint8)


def test_queue_drops_the_oldest_pictures_and_keeps_their_audio() -> None:
    fmt = ProgramFormat(width=320, height=180, fps=FPS)
    encoder = ProgramEncoder(fmt, threads=1)
    capture = _Capture(audio_codec="aac")
    encoder.add_sink(capture)  # type: ignore[arg-type]
    tone = np.full((fmt.samples_per_tick, 2), 1000, np.int16)
    for tick in range(20):  # the encoder thread is not running yet: it is "busy"
        encoder.submit(tick, _luma(tick), tone)
    assert encoder.frames_dropped == 20 - ProgramEncoder.QUEUE
    assert encoder.queued == 20  # every tick's audio is still there
    encoder.start()
    deadline = time.monotonic() + 30
    while encoder.queued and time.monotonic() < deadline:
        time.sleep(0.02)
    encoder.stop()
    video = [p.pts for p, _ in capture.packets if p.kind == "video"]
    assert video == list(range(20 - ProgramEncoder.QUEUE, 20))  # the newest pictures, at their ticks
    assert capture.packets[0][0].keyframe  # the first frame encoded opens a GOP, whatever its tick
    audio = [p.pts for p, _ in capture.packets if p.kind == "audio"]
    assert all(b - a == 1024 for a, b in zip(audio, audio[1:], strict=False))
    # From tick 0 (whose picture was dropped; -1024: AAC priming) to tick 19, less AAC's delay.
    assert audio[0] == -1024 and audio[-1] + 1024 >= 20 * fmt.samples_per_tick - 3 * 1024


def test_skipped_ticks_keep_their_time_and_audio_is_filled() -> None:
    fmt = ProgramFormat(width=320, height=180, fps=FPS)
    encoder = ProgramEncoder(fmt, threads=1)
    capture = _Capture()  # Opus
    aac = _Capture(audio_codec="aac")
    encoder.add_sink(capture)  # type: ignore[arg-type]
    encoder.add_sink(aac)  # type: ignore[arg-type]
    tone = np.full((fmt.samples_per_tick, 2), 1000, np.int16)
    ticks = [*range(0, 10), *range(40, 70)]  # the clock stalled for a second
    for tick in ticks:
        encoder._encode(tick, _luma(100 + tick), tone)
    video = [p for p, _ in aac.packets if p.kind == "video"]
    assert [p.pts for p in video] == ticks
    keys = [p.pts for p in video if p.keyframe]
    assert keys == [0, 40, 60]  # the GOP restarts on the clock's second, not after 30 frames
    for sink, step in ((aac, 1024), (capture, 960)):
        audio = [p.pts for p, _ in sink.packets if p.kind == "audio"]
        assert all(b - a == step for a, b in zip(audio, audio[1:], strict=False)), sink.audio_codec
        assert audio[-1] + step >= 70 * fmt.samples_per_tick - 3 * step
    assert encoder.silence_filled_ticks == 30


async def test_a_normal_show_keeps_its_rate_and_reports_it(server: Server) -> None:
    """Not overloaded: every tick encoded, output fps = configured fps, dates on the wall clock."""
    # 7 s: the output rate's 5 s window (mixer/outputs/ratemeter.py) past the encoder's start,
    # which takes a while on a loaded box (19 fps measured at 4 s at load 25).
    state = await server.wait_for(lambda s: (s["mixer"].get("uptime_s") or 0) >= 7, timeout=30)
    mixer = state["mixer"]
    assert mixer["configured_fps"] == FPS
    assert mixer["output_fps"] >= 0.8 * FPS, mixer
    assert mixer["encoded_frames"] >= 0.9 * mixer["ticks"] - ProgramEncoder.QUEUE, mixer
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/metrics") as res:
            metrics = await res.text()
        async with http.get(f"{server.url}/live/test-show/index.m3u8") as res:
            playlist = parse_playlist(await res.text())
            now = time.time()
    assert (sample(metrics, "broadcast_program_output_fps", show="test-show") or 0) >= 0.8 * FPS, metrics
    assert sample(metrics, "broadcast_program_configured_fps", show="test-show") == FPS
    for name in ("skipped_ticks_total", "late_ticks_total", "tick_lag_seconds", "audio_silence_filled_seconds_total"):
        assert sample(metrics, f"broadcast_program_{name}", show="test-show") is not None, name
    assert sample(metrics, "broadcast_encoder_queue", show="test-show") is not None
    last = playlist.segments[-1]
    assert last.program_date_time is not None
    # Listed once it ended: its end is in the recent past (1 s segments in the test config).
    assert 0 <= now - (last.program_date_time + last.duration) <= 0.5 + 1.0
