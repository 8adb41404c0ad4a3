"""One second of the slate, encoded once per show, for a delayed output's dump.

A dump (mixer/outputs/delayline.py) replaces packets that are already encoded and
waiting in a delay line, so it needs the slate as packets, not as a picture: a 1 s
H.264 GOP (an IDR, then P-frames of the same still picture, which decode to the same
picture in any order they are cycled from the IDR), an AAC frame of silence and an Opus
frame of silence.  It is made once, off the program's encoder, with the program's
encoder settings (resolution, profile, SPS/PPS in-band, no B-frames): a few dozen
frames of encode at start, never a second encode of the program.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from mixer.compositor import planes_to_frame
from mixer.encodedpacket import ProgramFormat
from mixer.opusencoder import OpusEncoder


@dataclass(frozen=True, slots=True)
class SlateClip:
    video: tuple[bytes, ...]  # Annex B access units; the first is an IDR with SPS/PPS
    aac_silence: bytes  # one raw AAC-LC frame (1024 samples) of digital silence
    opus_silence: bytes  # one 20 ms Opus frame of silence

    @classmethod
    def encode(cls, fmt: ProgramFormat, picture: np.ndarray, preset: str = "veryfast") -> SlateClip:
        """Encode ``picture`` (packed I420 of the program's size) for one second, and silence.

        Blocking (~0.1-0.3 s of CPU for 720p): call it in a thread.
        """
        ctx = av.CodecContext.create("libx264", "w")
        assert isinstance(ctx, av.VideoCodecContext)
        ctx.width, ctx.height, ctx.pix_fmt = fmt.width, fmt.height, "yuv420p"
        ctx.time_base = Fraction(1, fmt.fps)
        ctx.framerate = Fraction(fmt.fps)
        ctx.bit_rate = fmt.video_bitrate
        ctx.thread_count = 1
        # The program encoder's options (mixer/programencoder.py), so the streams match.
        ctx.options = {"preset": preset, "tune": "zerolatency", "profile": "high", "bf": "0", "g": str(10 * fmt.fps)}
        video: list[bytes] = []
        for n in range(fmt.fps):
            frame = planes_to_frame(picture)
            frame.pts = n
            frame.pict_type = av.video.frame.PictureType.I if n == 0 else av.video.frame.PictureType.NONE
            video += [bytes(p) for p in ctx.encode(frame)]
        video += [bytes(p) for p in ctx.encode(None)]
        aac = av.CodecContext.create("aac", "w")
        assert isinstance(aac, av.AudioCodecContext)
        aac.sample_rate, aac.layout, aac.format = fmt.sample_rate, "stereo", "fltp"
        aac.bit_rate = fmt.audio_bitrate
        aac.time_base = Fraction(1, fmt.sample_rate)
        aac_frames: list[bytes] = []
        for n in range(6):  # past the encoder's priming: a steady-state silent frame
            silence = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            silence.sample_rate, silence.pts = fmt.sample_rate, n * 1024
            aac_frames += [bytes(p) for p in aac.encode(silence)]
        opus = OpusEncoder(fmt.sample_rate, fmt.audio_bitrate, 0).encode(np.zeros((960 * 4, 2), np.int16))
        return cls(tuple(video), aac_frames[-1], opus[-1].data)
