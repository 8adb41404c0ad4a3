"""Every aiortc/aioice internal that rooms/compat.py patches or relies on is the version the
patch was written against: an upgrade that changes one fails here, by name, before it can
misbehave quietly in a show."""

from __future__ import annotations

import pytest

from rooms.compat import PINNED_MONITOR_CLOCK, PINNED_RECEIVE_PATH, sent_rtp_timestamp, source_hash


@pytest.mark.parametrize("name", sorted(PINNED_RECEIVE_PATH))
def test_patched_upstream_code_is_the_pinned_version(name: str) -> None:
    obj, pinned = PINNED_RECEIVE_PATH[name]
    assert source_hash(obj) == pinned, (
        f"aiortc's {name} changed (source hash {source_hash(obj)}, pinned {pinned}): re-read it against "
        "rooms/compat.py, section 'aiortc receive path', then update the pin"
    )


def test_the_receive_path_finds_the_receiver_internals_it_replaces() -> None:
    """The name-mangled attributes ReceivePath swaps exist on a real receiver."""
    import asyncio

    from aiortc import RTCPeerConnection

    from rooms.compat import ReceivePath, install_receive_path
    from rooms.framebuffer import FrameBuffer

    async def run() -> None:
        pc = RTCPeerConnection()
        try:
            receiver = pc.addTransceiver("video", direction="recvonly").receiver
            for name in (
                "jitter_buffer",
                "nack_generator",
                "codecs",
                "decoder_error",
                "decoder_queue",
                "decoder_thread",
                "timestamp_mapper",
                "rtcp_ssrc",
                "remote_streams",
                "rtx_ssrc",
            ):
                assert hasattr(receiver, f"_RTCRtpReceiver__{name}"), name
            path = install_receive_path(receiver, "video")
            assert isinstance(path, ReceivePath) and install_receive_path(receiver, "video") is path
            assert isinstance(receiver._RTCRtpReceiver__jitter_buffer, FrameBuffer)  # type: ignore[attr-defined]
            assert receiver._handle_rtp_packet == path._handle_rtp_packet
        finally:
            await pc.close()

    asyncio.run(run())


def test_nack_asks_after_reordering_and_again_per_packet_after_a_round_trip() -> None:
    from aiortc.rtp import RtpPacket

    from rooms.compat import MAX_NACKS_PER_PACKET, RetryingNackGenerator
    from rooms.framebuffer import FrameBuffer

    now = 0.0
    buffer = FrameBuffer(lambda pt: None)  # repair_delay 0.1 s until measured: retry after 0.12 s
    nack = RetryingNackGenerator(buffer, clock=lambda: now)

    def arrive(seq: int, at: float) -> set[int] | None:
        nonlocal now
        now = at
        return set(nack.missing) if nack.add(RtpPacket(sequence_number=seq)) else None

    for seq in range(1, 5):
        assert arrive(seq, 0.0) is None
    assert arrive(6, 0.001) is None  # 5 missing: maybe just overtaken
    assert arrive(7, 0.020) == {5}  # still missing after the reorder allowance
    assert arrive(8, 0.030) is None  # asked 10 ms ago: no repeat yet
    assert arrive(20, 0.040) is None  # a new gap, 9-19
    assert arrive(21, 0.060) == set(range(9, 20))  # only the new gap is due, not 5 again
    assert arrive(22, 0.150) == {5}  # 5's own retry time
    assert arrive(5, 0.160) is None  # repaired
    assert buffer.repair_delay == 0.1 or 0.13 < buffer.repair_delay < 0.15  # measured from the first NACK
    seen = [arrive(23 + i, 0.2 + 0.2 * i) for i in range(2 * MAX_NACKS_PER_PACKET)]
    asked_for_9 = sum(1 for s in seen if s and 9 in s) + 1
    assert asked_for_9 == MAX_NACKS_PER_PACKET  # then it gives up on it


@pytest.mark.parametrize("name", sorted(PINNED_MONITOR_CLOCK))
def test_monitor_clock_upstream_code_is_the_pinned_version(name: str) -> None:
    obj, pinned = PINNED_MONITOR_CLOCK[name]
    assert source_hash(obj) == pinned, (
        f"aiortc's {name} changed (source hash {source_hash(obj)}, pinned {pinned}): re-read it against "
        "rooms/compat.py, section 'crew monitor', then update the pin"
    )


def test_a_sender_keeps_the_rtp_timestamp_the_monitor_clock_reads() -> None:
    import asyncio

    from aiortc import RTCPeerConnection

    async def run() -> None:
        pc = RTCPeerConnection()
        try:
            sender = pc.addTransceiver("video", direction="sendonly").sender
            assert sent_rtp_timestamp(sender) == 0  # nothing sent yet
        finally:
            await pc.close()

    asyncio.run(run())
