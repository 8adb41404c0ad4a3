"""The video jitter buffer on real encoded streams (aiortc's own H.264 and VP8 encoders and
packetizers): packets lost, reordered, repaired late; what it releases must decode to the
exact pictures the sender drew, never a broken one."""

from __future__ import annotations

import fractions
from dataclasses import dataclass

import av
import numpy as np
import pytest
from aiortc.codecs import CODECS, depayload, get_decoder, get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from rooms.framebuffer import FrameBuffer
from rooms.framecodec import is_keyframe
from tests.whipclient import pattern_error, pattern_luma, pattern_number

WIDTH, HEIGHT = 320, 180
FRAME_S = 1 / 30


def _codec(name: str) -> RTCRtpCodecParameters:
    return next(c for c in CODECS["video"] if c.name == name)


@dataclass
class Sent:
    packet: RtpPacket
    frame: int  # the picture number it carries part of
    at: float  # when it is sent (s)


def _stream(codec: RTCRtpCodecParameters, frames: int, keyframes: tuple[int, ...] = ()) -> list[Sent]:
    """RTP packets of ``frames`` pattern pictures, sequence numbers wrapping past 65535."""
    encoder = get_encoder(codec)
    chroma = np.full((HEIGHT // 2, WIDTH), 128, dtype=np.uint8)
    sent: list[Sent] = []
    seq = 65500
    for n in range(frames):
        picture = av.VideoFrame.from_ndarray(np.concatenate([pattern_luma(n, WIDTH, HEIGHT), chroma]), format="yuv420p")
        picture.pts, picture.time_base = n * 3000, fractions.Fraction(1, 90000)
        payloads, timestamp = encoder.encode(picture, force_keyframe=n in keyframes)
        for i, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=codec.payloadType,
                marker=int(i == len(payloads) - 1),
                sequence_number=seq,
                timestamp=timestamp,
                ssrc=1234,
                payload=payload,
            )
            packet._data = depayload(codec, payload)  # type: ignore[attr-defined]
            sent.append(Sent(packet, n, n * FRAME_S + i * 0.001))
            seq = (seq + 1) & 0xFFFF
    return sent


class Receiver:
    """Feeds packets to a FrameBuffer at given times; decodes what it releases."""

    def __init__(self, codec: RTCRtpCodecParameters) -> None:
        self.now = 0.0
        self.buffer = FrameBuffer(lambda pt: codec if pt == codec.payloadType else None, clock=lambda: self.now)
        self.decoder = get_decoder(codec)
        self.pictures: list[int] = []
        self.worst = 0.0
        self.wanted_keyframe_at: list[float] = []

    def feed(self, packets: list[tuple[float, RtpPacket]]) -> None:
        for at, packet in sorted(packets, key=lambda p: p[0]):
            self.now = at
            wants, frame = self.buffer.add(packet)
            if wants:
                self.wanted_keyframe_at.append(at)
            while frame is not None:
                for picture in self.decoder.decode(frame):
                    luma = picture.to_ndarray()[:HEIGHT]
                    self.pictures.append(pattern_number(luma))
                    self.worst = max(self.worst, pattern_error(luma))
                frame = self.buffer.pop_ready()


CODEC_NAMES = ["H264", "VP8"]


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_clean_and_reordered_streams_come_out_whole_and_in_order(name: str) -> None:
    codec = _codec(name)
    sent = _stream(codec, 40)
    rx = Receiver(codec)
    # Swap neighbours throughout (jitter reorders), all within a few ms.
    timed = [(s.at + (0.004 if i % 2 == 0 else 0.0), s.packet) for i, s in enumerate(sent)]
    rx.feed(timed)
    assert rx.pictures == list(range(40)) or rx.pictures == list(range(39))  # the last may wait for its successor
    assert rx.worst < 8, rx.worst
    assert rx.buffer.gaps_skipped == 0 and rx.buffer.frames_dropped == 0
    assert rx.buffer.keyframes == 1
    assert not rx.buffer.waiting_for_keyframe
    assert not rx.wanted_keyframe_at  # the first keyframe was on time: no request


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_a_lost_packet_freezes_the_picture_until_the_next_keyframe_never_breaks_it(name: str) -> None:
    codec = _codec(name)
    sent = _stream(codec, 60, keyframes=(40,))
    lost = next(s for s in sent if s.frame == 15)
    rx = Receiver(codec)
    rx.feed([(s.at, s.packet) for s in sent if s is not lost])
    assert rx.worst < 8, rx.worst  # nothing broken reached the decoder's output
    assert rx.pictures == list(range(15)) + list(range(40, 60)), rx.pictures
    assert rx.buffer.gaps_skipped == 1
    assert rx.buffer.frames_dropped == 40 - 16  # whole inter frames whose reference was gone
    # It asked for a keyframe from (about one round trip before) giving up until one came.
    asked = rx.wanted_keyframe_at
    assert asked and min(asked) < 15 * FRAME_S + rx.buffer.max_wait
    assert max(asked) < 40 * FRAME_S + 0.02  # (the keyframe's packets are 1 ms apart)
    # And it did not hold everything behind the gap for long: frames kept being judged.
    assert rx.buffer.wait <= rx.buffer.max_wait


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_a_packet_repaired_in_time_loses_nothing(name: str) -> None:
    codec = _codec(name)
    sent = _stream(codec, 30)
    late = next(s for s in sent if s.frame == 10)
    rx = Receiver(codec)
    # The retransmission arrives 90 ms late (a round trip): within the wait.
    rx.feed([(s.at + (0.09 if s is late else 0.0), s.packet) for s in sent])
    assert rx.pictures[:29] == list(range(29))
    assert rx.buffer.gaps_skipped == 0 and rx.buffer.repaired == 1
    assert rx.worst < 8


def test_a_whole_keyframe_behind_a_gap_ends_the_wait_at_once() -> None:
    codec = _codec("H264")
    sent = _stream(codec, 20, keyframes=(12,))
    lost = next(s for s in sent if s.frame == 11)
    rx = Receiver(codec)
    # Everything arrives at once (a burst after a stall): no time passes for the gap to expire.
    rx.feed([(1.0, s.packet) for s in sent if s is not lost])
    assert rx.pictures == list(range(11)) + list(range(12, 20)) or rx.pictures == list(range(11)) + list(range(12, 19))
    assert rx.worst < 8


def test_keyframe_detection() -> None:
    h264, vp8 = _codec("H264"), _codec("VP8")
    for codec in (h264, vp8):
        sent = _stream(codec, 3, keyframes=(2,))
        by_frame: dict[int, bytes] = {}
        for s in sent:
            by_frame[s.frame] = by_frame.get(s.frame, b"") + s.packet._data  # type: ignore[attr-defined]
        assert [is_keyframe(codec.name, by_frame[n]) for n in range(3)] == [True, False, True]
    assert not is_keyframe("H264", b"")


def test_a_trickle_after_a_loss_still_gives_up_in_bounded_time() -> None:
    """Pauses (a starved loop, a stalled sender) extend a gap's wait, but only so far."""
    from rooms.framebuffer import PAUSE_CREDIT

    codec = _codec("H264")
    sent = _stream(codec, 30, keyframes=(25,))
    lost = next(s for s in sent if s.frame == 5)
    rx = Receiver(codec)
    # From frame 5 on, one frame every 150 ms: every arrival looks like a pause.
    timed = [
        (s.at if s.frame < 5 else 5 * FRAME_S + (s.frame - 5) * 0.15 + (s.at - s.frame * FRAME_S), s.packet)
        for s in sent
        if s is not lost
    ]
    rx.feed(timed)
    assert rx.buffer.gaps_skipped == 1
    asked = rx.wanted_keyframe_at
    assert asked and min(asked) <= 5 * FRAME_S + rx.buffer.max_wait + PAUSE_CREDIT + 0.15
    assert rx.pictures == list(range(5)) + list(range(25, 30))
    assert rx.worst < 8
