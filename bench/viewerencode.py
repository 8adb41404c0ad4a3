"""Cost of the WHEP side's second shared encode (VP8 or H.264 Constrained Baseline).

A 720p30 H.264 High program (the synthetic studio's moving test pattern, encoded
like the program: x264 veryfast zerolatency) is encoded first; then its packets are
fed to a :class:`ViewerEncoder` at real time (30 per second) and the process's CPU
time over that window is divided by the wall time: the cores the second encode
costs, decode of the program's H.264 included.

    .venv/bin/python bench/viewerencode.py --codec vp8 --seconds 20
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from fractions import Fraction

import av

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.viewercodec import ViewerCodec
from mixer.outputs.viewerencoder import ViewerEncoder
from rooms.testpattern import PATTERN_BARS, TestPattern


def program_packets(fmt: ProgramFormat, frames: int) -> list[EncodedPacket]:
    ctx = av.CodecContext.create("libx264", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height, ctx.pix_fmt = fmt.width, fmt.height, "yuv420p"
    ctx.time_base = Fraction(1, fmt.fps)
    ctx.bit_rate = fmt.video_bitrate
    ctx.options = {"preset": "veryfast", "tune": "zerolatency", "profile": "high", "bf": "0", "g": str(fmt.fps)}
    pattern = TestPattern(PATTERN_BARS, "bench", fmt.width, fmt.height, fmt.fps)
    out: list[EncodedPacket] = []
    for n in range(frames):
        frame = pattern.frame(n, wall_time=n / fmt.fps)
        frame.pts, frame.time_base = n, ctx.time_base
        frame.pict_type = av.video.frame.PictureType.NONE
        for packet in ctx.encode(frame):
            packet.time_base = ctx.time_base
            out.append(EncodedPacket.from_av("video", packet))
    return out


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def run(codec: ViewerCodec, fmt: ProgramFormat, seconds: float) -> dict[str, float]:
    packets = program_packets(fmt, round(seconds * fmt.fps))
    sizes: list[int] = []
    keys = 0

    def on_packet(packet: EncodedPacket) -> None:
        nonlocal keys
        sizes.append(len(packet.data))
        keys += packet.keyframe

    encoder = ViewerEncoder(codec, fmt, on_packet, lambda: None)
    encoder.start()
    time.sleep(0.2)
    c0, w0 = cpu(), time.monotonic()
    for n, packet in enumerate(packets):
        encoder.put(packet)
        delay = w0 + (n + 1) / fmt.fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    while encoder.frames_encoded < len(packets) - encoder._queue.dropped and time.monotonic() - w0 < seconds + 5:
        time.sleep(0.01)
    c1, w1 = cpu(), time.monotonic()
    encoder.stop()
    encoder.join(5)
    wall = w1 - w0
    return {
        "cores": (c1 - c0) / wall,
        "frames": encoder.frames_encoded,
        "dropped": encoder._queue.dropped,
        "kbps": sum(sizes) * 8 / (len(packets) / fmt.fps) / 1000,
        "keyframes": keys,
        "ms_per_frame": 1000 * encoder.busy_seconds / max(1, encoder.frames_encoded),
        "median_kb": statistics.median(sizes) / 1000 if sizes else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", choices=[c.value for c in (ViewerCodec.VP8, ViewerCodec.H264_CB)], default="vp8")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--bitrate", type=int, default=2_500_000)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    fmt = ProgramFormat(width=width, height=height, fps=args.fps, video_bitrate=args.bitrate)
    result = run(ViewerCodec(args.codec), fmt, args.seconds)
    print(
        f"{args.codec} {args.size}@{args.fps} {args.bitrate // 1000} kbit/s target: "
        + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items())
    )


if __name__ == "__main__":
    main()
