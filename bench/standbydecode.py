"""What a standby studio saves: decoding a camera-like 720p30 clip fully vs keyframes only.

    PYTHONPATH=. python bench/standbydecode.py [--clip /tmp/broadcast-bench-clips/s0.mkv]

The clip is bench/scale.py's (made if missing): H.264 baseline 2.5 Mbit/s, a keyframe a second.
Decoded with PyAV as aiortc's decoder does (one CodecContext, packet by packet), CPU time of
this process (all threads). Also what scaling a decoded picture to a multiview tile costs, the
other way to save ("decode all, convert only some"): scaling is not where the cost is.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
from av.video.reformatter import VideoReformatter

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.replaystudio import make_clip  # noqa: E402


def decode(packets: list[av.Packet], keyframes_only: bool) -> tuple[int, float, list[av.VideoFrame]]:
    ctx = av.CodecContext.create("h264", "r")
    ctx.extradata = packets[0].stream.codec_context.extradata
    frames: list[av.VideoFrame] = []
    t0 = time.process_time()
    for packet in packets:
        if keyframes_only and not packet.is_keyframe:
            continue
        frames += ctx.decode(av.Packet(bytes(packet)))  # type: ignore[arg-type]
    return len(frames), time.process_time() - t0, frames


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", type=Path, default=Path(tempfile.gettempdir()) / "broadcast-bench-clips" / "s0.mkv")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    clip = make_clip(args.clip, hue=0, tone_hz=300)
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        seconds = float(stream.duration * stream.time_base) if stream.duration else 10.0
        packets = [pk for pk in container.demux(stream) if pk.size]
    for _ in range(args.rounds):
        n_full, cpu_full, frames = decode(packets, False)
        n_key, cpu_key, _ = decode(packets, True)
        scaler = VideoReformatter()
        t0 = time.process_time()
        for frame in frames:
            scaler.reformat(frame, width=320, height=180, format="yuvj420p")
        cpu_scale = time.process_time() - t0
        duration = n_full / 30 if n_full else seconds
        print(
            f"full: {n_full} frames, {1000 * cpu_full / n_full:.2f} ms CPU each, {cpu_full / duration:.3f} core | "
            f"keyframes only: {n_key} frames, {1000 * cpu_key / max(n_key, 1):.2f} ms each, "
            f"{cpu_key / duration:.3f} core ({cpu_key / cpu_full:.0%} of full) | "
            f"scale to 320x180: {1000 * cpu_scale / n_full:.2f} ms each",
            flush=True,
        )


if __name__ == "__main__":
    main()
