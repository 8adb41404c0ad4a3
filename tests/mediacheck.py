"""Decode what an output produced and describe it: colours, timestamps, keyframes."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np


def classify(frame: av.VideoFrame) -> str:
    """Name the solid colour in the middle of the picture (test sources are solid)."""
    planes = frame.to_ndarray(format="yuv420p")
    h, w = frame.height, frame.width
    y = planes[h // 2 - 8 : h // 2 + 8, w // 2 - 8 : w // 2 + 8].mean()
    u = planes[h : h + h // 4].reshape(h // 2, w // 2)[h // 4 - 4 : h // 4 + 4, w // 4 - 4 : w // 4 + 4].mean()
    v = planes[h + h // 4 :].reshape(h // 2, w // 2)[h // 4 - 4 : h // 4 + 4, w // 4 - 4 : w // 4 + 4].mean()
    if v > 200 and u < 120:
        return "red"
    if v < 70 and u < 80 and y > 100:
        return "green"
    if u > 200 and y < 60:
        return "blue"
    return "other"


def live_from(keyframes: Sequence[int]) -> int:
    """The index of the first frame an HTTP-FLV reader surely got live: its second keyframe.

    ``keyframes``: the indexes of the read's key frames, in order (its first frame is one).
    The FLV output hands a new reader the GOP cached before its GET (``FlvOutput.subscribe``:
    the newest keyframe and every frame since), then the tags as they are encoded.  A keyframe
    restarts the cache, so the cached frames are a prefix of the read's first GOP; where in
    that GOP the live frames begin is in no byte of the stream (the FLV timestamps run on
    across the join).  So the whole first GOP counts as cached: up to one GOP of pictures from
    before the read began (1 s at the program's keyframe spacing: 30 frames at 30 fps), and
    with it as much of what came live.

    Raises ``AssertionError`` when the read has fewer than two keyframes (nothing surely live).
    """
    assert len(keyframes) >= 2, f"keyframes at {list(keyframes)}: no whole GOP read live"
    return keyframes[1]


@dataclass
class Decoded:
    colours: list[str] = field(default_factory=list)
    video_pts: list[float] = field(default_factory=list)
    keyframes: list[int] = field(default_factory=list)  # frame indexes
    audio_samples: int = 0
    audio_pts: list[float] = field(default_factory=list)
    size: tuple[int, int] | None = None
    audio_frame_samples: list[int] = field(default_factory=list)  # per audio frame, as audio_pts

    def after_cached_gop(self) -> Decoded:
        """What an HTTP-FLV read got live: its frames from the second keyframe on (:func:`live_from`
        says why), and the audio from that frame's time on.

        A read that began before a cut opens on up to a second of the picture before it; tests
        that check what followed the cut look at this part.  Raises ``AssertionError`` when the
        read holds fewer than two keyframes.
        """
        start = live_from(self.keyframes)
        t0 = self.video_pts[start]
        audio = [(t, n) for t, n in zip(self.audio_pts, self.audio_frame_samples, strict=True) if t >= t0]
        return Decoded(
            colours=self.colours[start:],
            video_pts=self.video_pts[start:],
            keyframes=[k - start for k in self.keyframes if k >= start],
            audio_samples=sum(n for _, n in audio),
            audio_pts=[t for t, _ in audio],
            size=self.size,
            audio_frame_samples=[n for _, n in audio],
        )

    def runs(self) -> list[tuple[str, int]]:
        """Colour runs in order, e.g. [('other', 20), ('red', 90), ('green', 80)]."""
        out: list[tuple[str, int]] = []
        for colour in self.colours:
            if out and out[-1][0] == colour:
                out[-1] = (colour, out[-1][1] + 1)
            else:
                out.append((colour, 1))
        return out

    def frame_intervals(self) -> set[float]:
        return {round(b - a, 3) for a, b in zip(self.video_pts, self.video_pts[1:], strict=False)}


def without_cue_points(flv: bytes) -> bytes:
    """The FLV without its mid-stream script tags (the onCuePoint timed metadata).

    FFmpeg's FLV demuxer makes a new data stream when the first one arrives; players and the
    ffmpeg CLI take that in their stride, but PyAV's demux raises IndexError on a stream that
    appeared after ``av.open``.  The header's onMetaData (timestamp 0) stays.
    """
    out = bytearray(flv[:13])
    pos = 13
    while pos + 11 <= len(flv):
        size = int.from_bytes(flv[pos + 1 : pos + 4], "big")
        end = pos + 11 + size + 4
        ts = int.from_bytes(flv[pos + 4 : pos + 7], "big") | (flv[pos + 7] << 24)
        if not (flv[pos] == 18 and ts != 0):
            out += flv[pos:end]
        pos = end
    return bytes(out)


def decode(source: str | bytes, fmt: str | None = None) -> Decoded:
    if fmt == "flv" and isinstance(source, bytes):
        source = without_cue_points(source)
    container = av.open(io.BytesIO(source) if isinstance(source, bytes) else source, format=fmt)
    out = Decoded()
    streams = [s for s in (container.streams.video[:1] + container.streams.audio[:1])]
    for packet in container.demux(*streams):
        if packet.stream.type == "video" and packet.size and packet.is_keyframe:
            out.keyframes.append(len(out.video_pts))
        for frame in packet.decode():
            assert frame.pts is not None and frame.time_base is not None
            t = float(frame.pts * Fraction(frame.time_base))
            if isinstance(frame, av.VideoFrame):
                out.size = (frame.width, frame.height)
                out.video_pts.append(t)
                out.colours.append(classify(frame))
            else:
                out.audio_samples += frame.samples
                out.audio_pts.append(t)
                out.audio_frame_samples.append(frame.samples)
    container.close()
    return out


def assert_continuous(d: Decoded, fps: int, max_missing: float = 0.4, max_hole: float = 2.0) -> None:
    """One timeline at ``fps``: monotonic timestamps on the frame grid, a keyframe every second, audio there.

    Every frame interval is a whole number of periods: a frame the encoder had no
    time for leaves its slot empty and never shifts the frames after it (the
    program clock's timeline).  The test machine has 2 cores shared by many runs
    (load averages of 10-17 measured, with 25% of the frames dropped; holes of
    1.1-1.3 s at load 25), so by default up to 40% of the slots may be empty and
    a hole may last up to 2 s (a stopped program leaves seconds); keyframes open
    each second of the clock.
    """
    assert d.video_pts, "no video decoded"
    pts = d.video_pts
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False)), "video timestamps not monotonic"
    period = 1 / fps
    slots = 0
    for a, b in zip(pts, pts[1:], strict=False):
        k = max(1, round((b - a) / period))
        assert abs(b - a - k * period) <= 0.0015, f"frame interval {b - a:.4f} is off the 1/{fps} grid"
        slots += k
    missing = slots - (len(pts) - 1)
    assert missing <= max(2, max_missing * slots), f"{missing} of {slots} frame slots empty"
    longest = max((b - a for a, b in zip(pts, pts[1:], strict=False)), default=period)
    assert longest <= max_hole + period + 0.002, f"a {longest:.3f} s hole in the video"
    keys = [pts[i] for i in d.keyframes]
    gaps = [b - a for a, b in zip(keys, keys[1:], strict=False)]
    # The first frame of each second: 1 s apart, give or take what a dropped frame moved one (at
    # least one frame: 0.967 s was seen at load 20, a keyframe one frame early after a late tick).
    slack = max(longest - period, period) + 0.002
    assert gaps and all(abs(g - 1) <= slack for g in gaps), f"keyframe spacing {gaps}, want 1 s"
    assert all(b >= a for a, b in zip(d.audio_pts, d.audio_pts[1:], strict=False)), "audio timestamps go back"
    duration = pts[-1] - pts[0] + period
    assert d.audio_samples >= 0.9 * duration * 48000, "audio is missing or has holes"


def is_mostly(values: np.ndarray | list[str], colour: str, share: float = 0.9) -> bool:
    seq = list(values)
    return bool(seq) and seq.count(colour) / len(seq) >= share


async def fetch_hls(playlist_url: str) -> tuple[str, bytes]:
    """The live playlist and its segments joined, as a CDN pulling it would get them."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(playlist_url) as res:
            assert res.status == 200, await res.text()
            playlist = await res.text()
        data = bytearray()
        base = playlist_url.rsplit("/", 1)[0]
        for line in playlist.splitlines():
            if line and not line.startswith("#"):
                async with http.get(f"{base}/{line}") as res:
                    assert res.status == 200
                    data += await res.read()
    return playlist, bytes(data)
