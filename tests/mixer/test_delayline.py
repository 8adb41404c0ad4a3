"""The delay line on its own, with a real encoder: release after the delay, dump to the slate
(decoded), a later delay change, and the cue diff that feeds timed metadata."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.graphics.card import CardContent
from mixer.outputs.delayline import DelayLine
from mixer.outputs.sink import Sink
from mixer.outputs.slateclip import SlateClip
from mixer.planes import packed
from mixer.programencoder import ProgramEncoder
from mixer.timedmetadata import CardOnAirData, card_cues
from orchestrator.config import ConfigError
from tests.conftest import make_config

FMT = ProgramFormat(160, 96, 30)


class Collect(Sink):
    accepts_data = True

    def __init__(self) -> None:
        self.got: list[tuple[float, EncodedPacket]] = []
        self.now = 0.0

    def start(self, fmt: ProgramFormat) -> None:
        pass

    def put(self, packet: EncodedPacket) -> None:
        self.got.append((self.now, packet))

    def close(self) -> None:
        pass


def _picture(luma: int) -> np.ndarray:
    p = packed(FMT.width, FMT.height)
    p[: FMT.height] = luma
    p[FMT.height :] = 128
    return p


def _encoded(ticks: range, luma: int, encoder: ProgramEncoder, sink: Sink) -> None:
    silence = np.zeros((FMT.samples_per_tick, 2), np.int16)
    for tick in ticks:
        encoder._encode(tick, _picture(luma), silence)


def _decode_luma(packets: list[EncodedPacket]) -> list[tuple[int, float]]:
    """(pts, mean luma) of each decoded frame of the video packets."""
    codec = av.CodecContext.create("h264", "r")
    out = []
    for p in packets:
        if p.kind != "video":
            continue
        for frame in codec.decode(p.to_av()):
            out.append((p.pts, float(frame.to_ndarray(format="yuv420p")[: FMT.height].mean())))
    return out


def test_packets_leave_after_the_delay_and_dump_turns_the_held_ones_into_the_slate() -> None:
    clock = [0.0]
    inner = Collect()
    keyframes_asked: list[int] = []
    slate = SlateClip.encode(FMT, _picture(16))
    ask = keyframes_asked.append
    line = DelayLine(inner, 2.0, slate=slate, on_need_keyframe=lambda: ask(1), clock=lambda: clock[0])
    encoder = ProgramEncoder(FMT, threads=1)
    encoder.add_sink(line)
    try:
        silence = np.zeros((FMT.samples_per_tick, 2), np.int16)
        # 3 s of bright (200) frames, then 1 s of the "mistake" (90), one tick every 1/30 s.
        for tick in range(120):
            clock[0] = tick / 30
            inner.now = clock[0]
            luma = 200 if tick < 90 else 90
            encoder._encode(tick, _picture(luma), silence)
        # Nothing left before its 2 s were up.
        assert all(at - p.pts / 30 >= 2.0 - 1e-9 for at, p in inner.got if p.kind == "video")
        aired = max(p.pts for _, p in inner.got if p.kind == "video")
        assert aired == 119 - 60  # exactly 2 s behind
        assert line.status()["behind_s"] == pytest.approx(2.0, abs=0.05)
        # The dump at tick 126's time: ticks 120-125 (still the mistake) were in the encoder's
        # queue, not in the line yet; they are slate when they arrive.
        replaced = line.dump(until=126 / 30)
        assert replaced > 60 and keyframes_asked
        for tick in range(120, 240):  # live goes on (bright again); its keyframe comes at tick 120
            clock[0] = tick / 30
            inner.now = clock[0]
            encoder._encode(tick, _picture(90 if tick < 126 else 200), silence)
    finally:
        encoder.stop()
    packets = [p for _, p in inner.got]
    frames = _decode_luma(packets)
    lumas = dict(frames)
    assert all(abs(lumas[t] - 200) < 4 for t in range(0, 60)), [round(lumas[t]) for t in range(0, 60)]
    # The held seconds (ticks 60-119, which held the mistake from 90) are the slate, not the mistake.
    assert all(abs(lumas[t] - 16) < 4 for t in range(60, 120)), [round(lumas[t]) for t in range(60, 120)]
    assert not any(abs(v - 90) < 10 for v in lumas.values()), "the mistake aired"
    assert all(abs(lumas[t] - 16) < 4 for t in range(120, 127)), [round(lumas[t]) for t in range(118, 130)]
    # Live again from the first keyframe after the dump's moment (the next second's, tick 150).
    assert all(abs(lumas[t] - 200) < 4 for t in range(150, 180)), [round(lumas[t]) for t in range(120, 180)]
    # Timestamps continue: every tick is there once, in order.
    assert [t for t, _ in frames] == list(range(180))
    cues = [json.loads(p.data) for p in packets if p.kind == "data"]
    assert [c["event"] for c in cues] == ["broadcast.dumped"] and cues[0]["stream_time"] == 2.0
    # Audio kept its timeline too (silence in the dumped part).
    audio = [p.pts for p in packets if p.kind == "audio"]
    assert audio == sorted(audio) and len(set(audio)) == len(audio)


def test_a_longer_delay_holds_new_packets_and_a_zero_delay_passes_straight_through() -> None:
    clock = [0.0]
    inner = Collect()
    line = DelayLine(inner, 0.0, clock=lambda: clock[0])
    packet = EncodedPacket("audio", b"x", 0, 0, FMT.audio_time_base, False)
    line.put(packet)
    assert len(inner.got) == 1
    line.set_delay(5.0)
    clock[0] = 1.0
    line.put(packet)
    clock[0] = 5.9
    line.put(packet)
    assert len(inner.got) == 1
    clock[0] = 6.0
    line.put(packet)
    assert len(inner.got) == 2
    with pytest.raises(ValueError):
        line.set_delay(61)
    assert line.dump() == 2
    line.close()
    line.put(packet)
    assert len(inner.got) == 2


def _card(price: float, stock: int | None = None) -> CardOnAirData:
    return CardOnAirData(CardContent("soup", "汪集鸡汤", price, stock=stock, buy_url="https://shop.test/soup"))


def test_card_cues_name_the_event_and_the_product() -> None:
    assert [c["event"] for c in card_cues({}, {"main": _card(39.9)})] == ["card.shown"]
    cues = card_cues({"main": _card(39.9, 10)}, {"main": _card(29.9, 9)})
    assert [c["event"] for c in cues] == ["price.changed", "stock.changed"]
    assert cues[0]["previous"] == {"price": 39.9} and cues[0]["product"]["buy_url"] == "https://shop.test/soup"
    countdown = CardOnAirData(_card(29.9).content, countdown_until=1_800_000_000.0)
    cues = card_cues({"main": _card(29.9)}, {"main": countdown})
    assert [c["event"] for c in cues] == ["countdown.started"] and cues[0]["countdown_ends_at"] == 1_800_000_000.0
    other = CardOnAirData(CardContent("tea", "茶", 9.9))
    assert [c["event"] for c in card_cues({"main": _card(39.9)}, {"main": other})] == ["card.hidden", "card.shown"]
    assert [c["event"] for c in card_cues({"tag1": _card(39.9)}, {})] == ["card.hidden"]
    assert card_cues({"main": _card(39.9)}, {"main": _card(39.9)}) == []


@pytest.mark.parametrize(
    ("show", "message"),
    [
        ({"outputs": {"delay_s": 61}}, "delay_s"),
        ({"outputs": {"rtmp": [{"name": "a", "url": "rtmp://127.0.0.1/live/k", "delay_s": -1}]}}, "delay_s"),
        ({"webhook_url": "ftp://x", "webhook_secret": "0123456789abcdef"}, "webhook_url"),
        ({"webhook_url": "http://127.0.0.1:9/hook", "webhook_secret": "short"}, "webhook_secret"),
    ],
)
def test_bad_delay_or_webhook_config_is_one_readable_error(tmp_path: Path, show: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_config(tmp_path, **show)


def test_the_rtmp_mux_carries_cues_as_on_cue_point_script_tags(tmp_path: Path) -> None:
    """RTMP push is FFmpeg's FLV muxer (mixer/outputs/remux.py): the same mux into a file."""
    from mixer.outputs.remux import Remux
    from mixer.timedmetadata import stamp

    fmt = ProgramFormat(160, 96, 30, audio_extradata=b"\x11\x90", time_origin=1_800_000_000.0)
    encoder = ProgramEncoder(fmt, threads=1)
    inner = Collect()
    encoder.add_sink(inner)
    silence = np.zeros((fmt.samples_per_tick, 2), np.int16)
    try:
        for tick in range(30, 90):
            encoder._encode(tick, _picture(100), silence)
    finally:
        encoder.stop()
    packets = [p for _, p in inner.got]
    started = encoder.started_format
    assert started is not None
    cue = stamp({"event": "card.shown", "product": {"id": "soup"}}, 45, 0, started)
    path = tmp_path / "push.flv"
    remux = Remux(started, str(path), "flv", cues=True)
    first_key = next(p for p in packets if p.kind == "video" and p.keyframe)
    remux.open(first_key)
    for p in packets:
        if p.kind == "video" and p.pts == 45:
            remux.write(cue)
        remux.write(p)
    remux.close()
    data = path.read_bytes()
    at = data.index(b"onCuePoint")
    tag = at - 3 - 11
    assert data[tag] == 18
    ts = int.from_bytes(data[tag + 4 : tag + 7], "big")
    assert ts == round((45 - first_key.pts) * 1000 / 30)  # the frame's time from the stream's start
    assert b'"event":"card.shown"' in data[at : at + 400]
