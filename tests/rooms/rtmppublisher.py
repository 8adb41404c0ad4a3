"""An RTMP encoder for tests: FFmpeg's flv muxer and native rtmp:// protocol through PyAV, in a
process of its own (PyAV holds the GIL while it connects: in the server's process it would
stop the very event loop that has to answer it).

    proc = spawn_publisher("rtmp://127.0.0.1:1935/live/show/studio?token=...", seconds=10, colour="red")
    # stdout: "publishing" once connected, then "done"; exit status 1 and "refused: ..." if refused
    # other codecs: video_codec="libx265" (enhanced RTMP hvc1), "flv1", "none" (audio only); audio_codec="libmp3lame"
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import sys, time
from fractions import Fraction
import av, numpy as np
url, seconds, colour, vcodec, acodec = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rgb = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}[colour]
out = av.open(url, "w", format="flv")
video = None if vcodec == "none" else out.add_stream(vcodec, rate=30)
if video is not None:
    video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
    if vcodec == "libx264":
        video.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline", "g": "30"}
    elif vcodec == "libx265":
        video.options = {"preset": "ultrafast", "x265-params": "log-level=error"}
audio = out.add_stream(acodec, rate=48000)
audio.layout = "stereo"
picture = np.zeros((180, 320, 3), np.uint8)
picture[:, :] = rgb
t = np.arange(1024) / 48000
start = time.monotonic()
n = samples = 0
try:
    while time.monotonic() - start < seconds:
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts, frame.time_base = n, Fraction(1, 30)
        packets = list(video.encode(frame)) if video is not None else []
        while samples < (n + 1) * 1600:
            tone = (0.2 * np.sin(2 * np.pi * 440 * (t + samples / 48000))).astype(np.float32)
            af = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
            af.sample_rate, af.pts, af.time_base = 48000, samples, Fraction(1, 48000)
            packets += audio.encode(af)
            samples += 1024
        for packet in packets:
            out.mux(packet)
        if n == 0:
            print("publishing", flush=True)
        n += 1
        time.sleep(max(0.0, start + n / 30 - time.monotonic()))
    out.close()
except av.error.FFmpegError as exc:
    print("refused:", exc, flush=True)
    sys.exit(1)
print("done", flush=True)
"""


def spawn_publisher(
    url: str, seconds: float, colour: str = "red", video_codec: str = "libx264", audio_codec: str = "aac"
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, url, str(seconds), colour, video_codec, audio_codec],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
