"""Cheap studios for benchmarks: pre-encoded clips replayed over WHIP, never re-encoded.

    python bench/replaystudio.py --clip s0.mkv --whip-url URL --token T [--clip ... ] --seconds 60

One process publishes several studios (``--clip``/``--whip-url``/``--token`` repeated),
one thread each: FFmpeg's ``whip`` muxer (PyAV) remuxes the clip's H.264 and Opus packets,
looping it with its timestamps running on, paced at real time. Publishing costs a few
percent of a core per studio (SRTP and sendto in FFmpeg), so the server's load is the
media, not the publishers. The clip must suit the muxer: H.264 without B-frames (with
its parameter sets in the extradata) and Opus 48 kHz stereo; ``make_clip`` writes one.
The muxer's handshake holds the GIL (~1 s, rooms/syntheticstudio/whipmuxer.py): studios of one
process connect one after another.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import av

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rooms.dtlscert import write_p256_certificate  # noqa: E402

CLIP_SECONDS = 10


def make_clip(path: Path, hue: float, tone_hz: float, bitrate: int = 2_500_000, fps: int = 30) -> Path:
    """A camera-like 720p clip (Debian's ffmpeg): testsrc2 turned ``hue`` degrees, temporal noise
    (every frame differs, like a sensor's), x264 veryfast baseline at ``bitrate`` with a keyframe
    each second, and an Opus tone; written once (kept if ``path`` exists)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mkv")
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={fps},hue=h={hue:g},noise=alls=12:allf=t+u",
            "-f", "lavfi", "-i", f"sine=frequency={tone_hz:g}:sample_rate=48000",
            "-t", str(CLIP_SECONDS), "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
            "-b:v", str(bitrate), "-maxrate", str(bitrate), "-bufsize", str(bitrate),
            "-x264-params", f"keyint={fps}:min-keyint={fps}:scenecut=0:bframes=0",
            "-c:a", "libopus", "-b:a", "64k", "-ac", "2", "-ar", "48000",
            str(tmp),
        ],
        check=True,
    )  # fmt: skip
    tmp.rename(path)
    return path


class Replay:
    """One studio: ``clip`` published to ``whip_url`` until ``stop`` or ``seconds``."""

    def __init__(self, clip: Path, whip_url: str, token: str, cert: Path, key: Path) -> None:
        self.clip, self.whip_url, self.token = clip, whip_url, token
        self.cert, self.key = cert, key
        self.stop = threading.Event()
        self.error: str | None = None
        self.sent = 0

    def run(self, seconds: float) -> None:
        try:
            self._run(seconds)
        except (av.error.FFmpegError, OSError) as exc:
            self.error = str(exc)
            print(f"replay {self.whip_url}: {exc}", file=sys.stderr, flush=True)

    def _run(self, seconds: float) -> None:
        source = av.open(str(self.clip))
        packets = [p for p in source.demux() if p.size and p.pts is not None]
        vin, ain = source.streams.video[0], source.streams.audio[0]
        out = av.open(
            self.whip_url,
            "w",
            format="whip",
            container_options={"authorization": self.token, "cert_file": str(self.cert), "key_file": str(self.key)},
        )
        vout = out.add_stream_from_template(vin)
        aout = out.add_stream_from_template(ain)
        streams: dict[int, Any] = {vin.index: vout, ain.index: aout}
        period = float(max(p.pts * p.time_base for p in packets if p.stream.index == vin.index)) + 1 / 30
        order = sorted(packets, key=lambda p: float(p.pts * p.time_base))
        try:
            out.start_encoding()  # POST, ICE, DTLS
            t0 = time.monotonic()
            loop = 0
            while not self.stop.is_set() and time.monotonic() - t0 < seconds:
                for p in order:
                    at = loop * period + float(p.pts * p.time_base)
                    wait = t0 + at - time.monotonic()
                    if wait > 0 and self.stop.wait(wait):
                        break
                    q = av.Packet(bytes(p))
                    q.stream = streams[p.stream.index]
                    offset = round(loop * period / p.time_base)
                    q.pts, q.time_base = p.pts + offset, p.time_base
                    q.dts = (p.dts if p.dts is not None else p.pts) + offset
                    q.is_keyframe = p.is_keyframe
                    out.mux(q)
                    self.sent += 1
                loop += 1
        finally:
            out.close()
            source.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", action="append", required=True, type=Path)
    p.add_argument("--whip-url", action="append", required=True)
    p.add_argument("--token", action="append", required=True)
    p.add_argument("--seconds", type=float, default=3600)
    args = p.parse_args(argv)
    if not len(args.clip) == len(args.whip_url) == len(args.token):
        p.error("give --clip, --whip-url and --token once per studio")
    with tempfile.TemporaryDirectory(prefix="replay-") as tmp:
        cert, key = write_p256_certificate(Path(tmp))
        replays = [Replay(c, u, t, cert, key) for c, u, t in zip(args.clip, args.whip_url, args.token, strict=True)]
        threads = [threading.Thread(target=r.run, args=(args.seconds,), daemon=True) for r in replays]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except KeyboardInterrupt:
            pass
    return 1 if any(r.error for r in replays) else 0


if __name__ == "__main__":
    sys.exit(main())
