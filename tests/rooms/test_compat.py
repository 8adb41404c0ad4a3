"""Every aiortc/aioice/aiohttp internal that rooms/compat/ patches or relies on is the version the
patch was written against: an upgrade that changes one fails here, by name, before it can
misbehave quietly in a show.  The process-wide patches are applied once, by install()."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aioice.ice
import aiortc.codecs
import aiortc.rtcpeerconnection
import aiortc.rtp
import pytest

from rooms import compat
from rooms.compat import aioicepatches, source_hash
from rooms.compat.pins import changed

PINS = compat.pins()


@pytest.mark.parametrize("name", sorted(PINS))
def test_patched_upstream_code_is_the_pinned_version(name: str) -> None:
    obj, pinned = PINS[name]
    module = name.partition(":")[0]
    assert source_hash(obj) == pinned, (
        f"upstream {name} changed (source hash {source_hash(obj)}, pinned {pinned}): re-read it against "
        f"rooms/compat/{module}.py, then update the pin"
    )


def test_every_patch_module_pins_what_it_patches() -> None:
    modules = {name.partition(":")[0] for name in PINS}
    assert modules == {
        "aioicepatches",
        "aiortccodecs",
        "aiortcdtls",
        "aiortcnack",
        "aiortcreceive",
        "aiortcsend",
        "aiohttpweb",
    }
    assert modules == set(compat.MODULES)


def test_a_changed_upstream_is_named() -> None:
    def upstream() -> None:
        pass

    assert changed({"f": (upstream, source_hash(upstream))}) == []
    assert changed({"f": (upstream, "0" * 16)}) == [f"f: {source_hash(upstream)} (pinned {'0' * 16})"]


def test_install_applies_the_process_wide_patches_once() -> None:
    compat.install()
    patched = (
        aioice.ice.get_host_addresses,
        aioice.ice.Connection.get_component_candidates,
        aioice.ice.Connection.data_received,
        aioice.ice.Connection.query_consent,
        aiortc.rtcpeerconnection.find_common_codecs,
    )
    assert all(f.__module__.startswith("rooms.compat.") for f in patched), [f.__module__ for f in patched]
    table = list(aiortc.codecs.CODECS["video"])
    assert sum(1 for c in table if c.mimeType == "video/H264") == 2 + len(compat.HIGH_FAMILY)
    assert all(compat.FIR in c.rtcpFeedback for c in table if not aiortc.codecs.is_rtx(c))
    assert 41 in aiortc.rtp.DYNAMIC_PAYLOAD_TYPES  # Chromium's High 4:4:4 Predictive
    compat.install()
    compat.register_h264_high()
    assert aiortc.codecs.CODECS["video"] == table  # nothing added twice
    assert aioice.ice.Connection.query_consent is patched[3]


def test_host_addresses_are_a_setting_of_the_installed_patch() -> None:
    compat.install()
    before = list(aioicepatches._chosen_addresses)
    try:
        compat.offer_host_addresses(["127.0.0.1", "::1"])
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1", "::1"]
        compat.offer_host_addresses([])
        assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)  # aioice's own
    finally:
        compat.offer_host_addresses(before)


def test_the_receive_buffer_setting_is_the_value_aioice_reads_at_bind_time() -> None:
    """use_receive_buffer sets a module value; the pinned bind reads exactly that name."""
    import inspect

    import aioice.turn

    source = inspect.getsource(aioicepatches._original_gather)
    assert "turn.UDP_SOCKET_BUFFER_SIZE" in source, "aioice no longer sizes sockets from turn.UDP_SOCKET_BUFFER_SIZE"
    before = aioice.turn.UDP_SOCKET_BUFFER_SIZE
    try:
        compat.use_receive_buffer(before + 4096)
        assert before + 4096 == aioice.turn.UDP_SOCKET_BUFFER_SIZE
    finally:
        aioice.turn.UDP_SOCKET_BUFFER_SIZE = before


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
    buffer = FrameBuffer(lambda pt: None)  # repair delay 0.1 s until measured: retry after 0.12 s
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
    assert buffer.repairs.delay == 0.1 or 0.13 < buffer.repairs.delay < 0.15  # measured from the first NACK
    seen = [arrive(23 + i, 0.2 + 0.2 * i) for i in range(2 * MAX_NACKS_PER_PACKET)]
    asked_for_9 = sum(1 for s in seen if s and 9 in s) + 1
    assert asked_for_9 == MAX_NACKS_PER_PACKET  # then it gives up on it


async def test_a_sessions_decoder_threads_are_ended_off_the_event_loop() -> None:
    """aiortc's decoder stop joins a thread: a closing WHIP session runs it in a worker thread."""
    import threading

    from mixer.feedbuffer import FeedBuffer
    from rooms.whipsession import SessionSpec, WhipSession

    async def closed(_: WhipSession) -> None:
        pass

    session = WhipSession(SessionSpec("show", "alpha", FeedBuffer("alpha"), closed))
    receiver = session.pc.addTransceiver("video", direction="recvonly").receiver
    upstream = receiver._RTCRtpReceiver__stop_decoder  # type: ignore[attr-defined]
    threads: list[threading.Thread] = []

    def stop_decoder() -> None:
        threads.append(threading.current_thread())
        upstream()

    receiver._RTCRtpReceiver__stop_decoder = stop_decoder  # type: ignore[attr-defined]
    await session.close()
    assert threads and threading.main_thread() not in threads


def test_a_sender_keeps_the_rtp_timestamp_the_monitor_clock_reads() -> None:
    """The name-mangled attribute the crew monitor's clock reads exists on a real sender."""
    import asyncio

    from aiortc import RTCPeerConnection

    from rooms.compat import sent_rtp_timestamp

    async def run() -> None:
        pc = RTCPeerConnection()
        try:
            sender = pc.addTransceiver("video", direction="sendonly").sender
            assert sent_rtp_timestamp(sender) == 0  # nothing sent yet
        finally:
            await pc.close()

    asyncio.run(run())


def test_the_media_patches_leave_aiohttps_server_unimported() -> None:
    """An ingest worker (spawned afresh) applies the media patches and serves no HTTP: the aiohttp
    patch is the app's (rooms/compat/aiohttpweb.py), so the worker does not import aiohttp's server."""
    probe = "import sys, rooms.ingestworker, rooms.compat as c; c.install(); print('aiohttp' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", out
