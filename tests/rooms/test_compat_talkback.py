"""The talkback receivers' one-packet audio jitter buffer (rooms/compat/aiortcreceive.py).

Its pin (``RTCRtpReceiver.__init__``) is checked with every other one by tests/rooms/test_compat.py.
"""

from __future__ import annotations

from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from rooms.compat import shorten_audio_jitter


class _Transport:
    state = "new"


def _released(receiver: RTCRtpReceiver, packets: int) -> int:
    buffer = receiver._RTCRtpReceiver__jitter_buffer  # type: ignore[attr-defined]
    out = 0
    for seq in range(packets):
        packet = RtpPacket(payload_type=111, sequence_number=seq, timestamp=960 * seq, payload=b"x")
        packet._data = packet.payload  # type: ignore[attr-defined]  # the receiver depayloads before buffering
        _, frame = buffer.add(packet)
        out += frame is not None
    return out


def test_a_talkback_receiver_releases_a_packet_when_the_next_arrives() -> None:
    upstream = RTCRtpReceiver("audio", _Transport())  # type: ignore[arg-type]
    short = RTCRtpReceiver("audio", _Transport())  # type: ignore[arg-type]
    shorten_audio_jitter(short)
    # aiortc's own holds four packets back; ours one.
    assert _released(upstream, 6) == 2
    assert _released(short, 6) == 5
