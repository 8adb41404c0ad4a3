"""An overloaded encoder against the wall clock: does the output lose frames, or time?

Runs a program (slate only) whose encode cannot keep up (by default 1080p30 with
x264 ``veryslow`` on one thread), writes HLS and HTTP-FLV for ``--seconds``, then
reports the real output frame rate, the frames dropped, media time against wall
time for each output, and how far each HLS segment's PROGRAM-DATE-TIME was from
the wall clock when the segment appeared in the playlist.

    .venv/bin/python bench/overload.py [--seconds 20] [--size 1920x1080] [--fps 30] [--preset veryslow]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mixer.encodedpacket import ProgramFormat  # noqa: E402
from mixer.outputs.flvoutput import FlvOutput  # noqa: E402
from mixer.outputs.hlsoutput import PLAYLIST_NAME, HlsOutput  # noqa: E402
from mixer.outputs.hlsplaylist import parse_playlist  # noqa: E402
from mixer.program import Program  # noqa: E402
from tests.flvpull import read_all  # noqa: E402
from tests.mediacheck import Decoded, decode  # noqa: E402


def span(got: Decoded, fps: int) -> float:
    return got.video_pts[-1] - got.video_pts[0] + 1 / fps if got.video_pts else 0.0


async def run(seconds: float, width: int, height: int, fps: int, preset: str, threads: int) -> None:
    loop = asyncio.get_running_loop()
    directory = Path(tempfile.mkdtemp(prefix="overload-"))
    fmt = ProgramFormat(width, height, fps)
    program = Program(fmt, "Overload", "bench", encoder_threads=threads, encoder_preset=preset)
    hls = HlsOutput(directory, segment_seconds=2.0, window=1000)
    flv = FlvOutput(loop)
    program.add_sink(hls)
    program.add_sink(flv)
    task = asyncio.ensure_future(read_all(flv.subscribe()))
    seen: dict[str, float] = {}
    started = time.time()
    program.start()
    while time.time() - started < seconds:
        await asyncio.sleep(0.05)
        path = directory / PLAYLIST_NAME
        if path.exists():
            now = time.time()
            for segment in parse_playlist(path.read_text()).segments:
                seen.setdefault(segment.name, now)
    stats = program.stats()
    stopped = time.time()
    await loop.run_in_executor(None, program.stop)
    flv_data = await asyncio.wait_for(task, 10)
    wall = stopped - started

    segments = parse_playlist((directory / PLAYLIST_NAME).read_text()).segments
    lags = [seen[s.name] - ((s.program_date_time or 0) + s.duration) for s in segments if s.name in seen]
    hls_got = decode(b"".join((directory / s.name).read_bytes() for s in segments), "mpegts")
    flv_got = decode(flv_data, "flv")
    print(f"{width}x{height}@{fps} x264 {preset} threads={threads}, {wall:.1f} s wall")
    print(
        f"  clock: {stats['ticks']} ticks, {stats['late_ticks']} late, {stats['skipped_ticks']} skipped; "
        f"encoder: {stats['encoded_frames']} frames, {stats['encoder_dropped']} dropped, "
        f"output fps {stats['output_fps']} (configured {fps}), encode {stats['encode_ms_avg']} ms"
    )
    for name, got in (("hls", hls_got), ("flv", flv_got)):
        print(
            f"  {name}: {len(got.video_pts)} frames, media {span(got, fps):.2f} s "
            f"(wall {wall:.2f} s), audio {got.audio_samples / 48000:.2f} s"
        )
    print(f"  hls playlist: {sum(s.duration for s in segments):.2f} s in {len(segments)} segments")
    if lags:
        print(f"  segment listed after its end's PROGRAM-DATE-TIME: min {min(lags):.2f} s, max {max(lags):.2f} s")
    first = segments[0].program_date_time if segments else None
    if first is not None:
        print(f"  first PROGRAM-DATE-TIME - start: {first - started:+.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--preset", default="veryslow")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    asyncio.run(run(args.seconds, width, height, args.fps, args.preset, args.threads))


if __name__ == "__main__":
    main()
