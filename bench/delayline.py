"""Broadcast delay and timed metadata: memory a delay line holds per second of delay, and the
offset between a card cue and the frame where the card appears.

    .venv/bin/python bench/delayline.py [--size 1280x720] [--seconds 10] [--cards 5]

1. Memory: a real program encode (ProgramEncoder, x264 veryfast, the show's default 2.5 Mbit/s
   video and 128 kbit/s AAC) of a busy picture (moving noise blocks: the rate control fills
   its budget) goes into a DelayLine that holds everything; Python's allocations
   (tracemalloc) with the line full, divided by the seconds held.
2. Cue sync: a real Program (clock, compositor, graphics director, encoder) with the HLS
   output; a card is shown and hidden ``--cards`` times; the segments are decoded and every
   ID3 cue's pts compared with the first frame whose card region changed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mixer.encodedpacket import EncodedPacket, ProgramFormat  # noqa: E402
from mixer.graphics.card import CardContent  # noqa: E402
from mixer.graphics.director import CardOnAir, GraphicsDirector, GraphicsScene  # noqa: E402
from mixer.outputs.delayline import DelayLine  # noqa: E402
from mixer.outputs.hlsoutput import HlsOutput  # noqa: E402
from mixer.outputs.id3 import DESCRIPTION, parse_id3  # noqa: E402
from mixer.outputs.sink import Sink  # noqa: E402
from mixer.planes import packed  # noqa: E402
from mixer.program import Program  # noqa: E402
from mixer.programencoder import ProgramEncoder  # noqa: E402


class Null(Sink):
    def start(self, fmt: ProgramFormat) -> None:
        pass

    def put(self, packet: EncodedPacket) -> None:
        pass

    def close(self) -> None:
        pass


def memory(width: int, height: int, seconds: int) -> dict[str, float]:
    fmt = ProgramFormat(width, height, 30)
    encoder = ProgramEncoder(fmt, threads=2)
    line = DelayLine(Null(), 60.0, clock=lambda: 0.0)  # a clock that never moves: nothing leaves
    rng = np.random.default_rng(1)
    tone = (np.sin(np.arange(fmt.samples_per_tick) / 8) * 8000).astype(np.int16)
    samples = np.stack([tone, tone], axis=1)
    pictures = []
    for _ in range(8):
        p = packed(width, height)
        p[:] = rng.integers(0, 255, p.shape, dtype=np.uint8)
        pictures.append(p)
    tracemalloc.start()
    encoder.add_sink(line)
    marks = []  # traced bytes at each second: the slope is what a second of delay costs
    for tick in range(seconds * fmt.fps):
        picture = pictures[tick % len(pictures)].copy()
        picture[: height // 4] = (tick * 7) % 255  # plus motion
        encoder._encode(tick, picture, samples)
        if tick % fmt.fps == fmt.fps - 1:
            marks.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    slope = float(np.polyfit(np.arange(len(marks) - 1), np.array(marks[1:], float), 1)[0])
    status = line.status()
    encoder.stop()
    stream = float(status["held_bytes"]) / seconds  # type: ignore[arg-type]
    packets = float(status["held_packets"]) / seconds  # type: ignore[arg-type]
    return {
        "seconds": seconds,
        "packets_per_s": round(packets, 1),
        "stream_bytes_per_s": round(stream),
        "memory_bytes_per_s": round(slope),
        "overhead_bytes_per_packet": round((slope - stream) / packets),
    }


SOUP = CardContent("soup", "汪集鸡汤", 39.9, enterprise="汪集", was_price=59.9, buy_url="https://shop.test/soup")


async def cue_sync(width: int, height: int, cards: int) -> dict[str, object]:
    fmt = ProgramFormat(width, height, 30)
    program = Program(fmt, "bench", "slate")
    directory = Path(tempfile.mkdtemp())
    hls = HlsOutput(directory, segment_seconds=1.0, window=100)
    program.add_sink(hls)
    director = GraphicsDirector(program.graphics, width, height)
    program.start()
    await asyncio.sleep(1.5)
    latency = []
    rect = (0, 0, width, height)
    for _ in range(cards):
        t0 = time.time()
        await director.show(GraphicsScene(cards=(CardOnAir("main", SOUP),)))
        latency.append(t0)
        rect = director.on_air()["main"]
        await asyncio.sleep(1.5)
        t0 = time.time()
        await director.show(GraphicsScene())
        latency.append(t0)
        await asyncio.sleep(1.5)
    await asyncio.to_thread(program.stop)
    await director.close()
    cues: list[tuple[float, dict[str, object]]] = []
    frames: list[tuple[float, np.ndarray]] = []
    for seg in sorted(directory.glob("*.ts")):
        with av.open(io.BytesIO(seg.read_bytes()), format="mpegts") as container:
            streams = [container.streams.video[0], *[s for s in container.streams if s.type == "data"]]
            for packet in container.demux(*streams):
                if packet.stream.type == "data" and packet.size:
                    cues.append(
                        (float(packet.pts * packet.time_base), json.loads(parse_id3(bytes(packet))[DESCRIPTION]))
                    )
                elif packet.stream.type == "video":
                    for frame in packet.decode():
                        frames.append((float(frame.pts * frame.time_base), frame.to_ndarray(format="yuv420p")[:height]))
    x, y, w, h = rect
    region = (slice(y, y + h), slice(x, x + w))  # the card's place
    diffs = [0.0] + [
        float(np.abs(b[1][region].astype(int) - a[1][region]).mean()) for a, b in zip(frames, frames[1:], strict=False)
    ]
    offsets: dict[str, list[int]] = {"card.shown": [], "card.hidden": []}
    for at, cue in cues:
        start = next(i for i, (t, _) in enumerate(frames) if t >= at - 0.2)
        change = next(i for i in range(start, len(frames)) if diffs[i] > 0.5)
        offsets[str(cue["event"])].append(round((frames[change][0] - at) * fmt.fps))
    stamps = [float(c["stream_time"]) for _, c in cues]  # type: ignore[arg-type]
    origin = program.encoder.time_origin or 0.0
    command_to_cue = [origin + s - t for s, t in zip(stamps, latency, strict=True)]
    return {
        "cues": len(cues),
        "frames_from_cue_to_change": offsets,
        "command_to_cue_ms_median": round(1000 * statistics.median(command_to_cue), 1),
        "command_to_cue_ms_max": round(1000 * max(command_to_cue), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--cards", type=int, default=5)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    print(json.dumps({"memory": memory(width, height, args.seconds)}, indent=1))
    print(json.dumps({"cue_sync": asyncio.run(cue_sync(width, height, args.cards))}, indent=1))


if __name__ == "__main__":
    main()
