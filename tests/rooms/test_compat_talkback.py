"""The talkback receivers' one-packet audio jitter buffer (rooms/compat.py, "Talk and listen")."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from rooms.compat import PINNED_AUDIO_JITTER, shorten_audio_jitter, source_hash


@pytest.mark.parametrize("name", sorted(PINNED_AUDIO_JITTER))
def test_patched_upstream_code_is_the_pinned_version(name: str) -> None:
    obj, pinned = PINNED_AUDIO_JITTER[name]
    assert source_hash(obj) == pinned, (
        f"aiortc's {name} changed (source hash {source_hash(obj)}, pinned {pinned}): re-read it against "
        "rooms/compat.py's talkback jitter buffer before updating the pin"
    )


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
