"""Every aiortc/aioice internal that rooms/compat.py patches or relies on is the version the
patch was written against: an upgrade that changes one fails here, by name, before it can
misbehave quietly in a show."""

from __future__ import annotations

import pytest

from rooms.compat import PINNED_RECEIVE_PATH, source_hash


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
