"""Encoded program media made by the tests: what the program encoder hands every output.

H.264 as the program encoder makes it (libx264 veryfast zerolatency, no B-frames, a
keyframe every second, SPS/PPS in-band on every keyframe: no global header) and AAC-LC
48 kHz stereo.  The picture is one solid colour per second with a small block moving at
the bottom (so P-frames carry something); the sound a 440 Hz tone.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import av
import numpy as np

from mixer.encodedpacket import EncodedPacket


def encode_video(
    width: int, height: int, fps: int, seconds: int, colours: Sequence[tuple[int, int, int]]
) -> list[EncodedPacket]:
    """``fps * seconds`` frames, the ``k``-th second in ``colours[k % len(colours)]`` (RGB)."""
    ctx = av.CodecContext.create("libx264", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, fps)
    ctx.framerate = Fraction(fps)
    # No global-header flag: SPS/PPS stay in-band on every keyframe, as the program encoder does.
    ctx.options = {
        "preset": "veryfast",
        "tune": "zerolatency",
        "bf": "0",
        "g": str(fps),
        "keyint_min": str(fps),
        "sc_threshold": "0",
        "repeat-headers": "1",
    }
    out: list[EncodedPacket] = []
    for i in range(fps * seconds):
        rgb = np.empty((height, width, 3), np.uint8)
        rgb[:] = colours[(i // fps) % len(colours)]
        x = (i * 7) % (width - 16)
        rgb[height - 24 :, x : x + 16] = 255  # a moving block at the bottom: P-frames carry something
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = i, ctx.time_base
        out += [EncodedPacket.from_av("video", p) for p in ctx.encode(frame)]
    out += [EncodedPacket.from_av("video", p) for p in ctx.encode(None)]
    return out


def encode_audio(seconds: int, amplitude: float = 0.3) -> tuple[list[EncodedPacket], bytes]:
    """AAC packets of a 440 Hz tone at ``amplitude`` (full scale 1.0), and the AudioSpecificConfig."""
    ctx = av.CodecContext.create("aac", "w")
    assert isinstance(ctx, av.AudioCodecContext)
    ctx.sample_rate, ctx.layout, ctx.format = 48000, "stereo", "fltp"
    ctx.time_base = Fraction(1, 48000)
    ctx.bit_rate = 128_000
    ctx.open()
    out: list[EncodedPacket] = []
    for start in range(0, 48000 * seconds, 1024):
        t = (np.arange(1024) + start) / 48000
        tone = (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48000, start, ctx.time_base
        out += [EncodedPacket.from_av("audio", p) for p in ctx.encode(frame)]
    out += [EncodedPacket.from_av("audio", p) for p in ctx.encode(None)]
    assert ctx.extradata
    return out, bytes(ctx.extradata)


def in_encoder_order(*streams: list[EncodedPacket]) -> list[EncodedPacket]:
    """The packets as the encoder thread emits them: by time, video first on ties."""
    return sorted((p for s in streams for p in s), key=lambda p: (p.dts * p.time_base, p.kind != "video"))
