"""FFmpeg's whip muxer with its own DTLS identity, as a user who passes no certificate publishes (issue 9).

FFmpeg 8.1 (PyAV 18.1's GnuTLS build) makes a secp224r1 certificate; the OpenSSL under aiortc
(4.0, in the ``cryptography`` wheel) is built without that curve for TLS, so the handshake
cannot succeed and the server must say why in one line (rooms/compat/aiortcdtls.py). Should a
later TLS library take the curve again, the same publish must reach the show's decoder instead.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from typing import Any

import pytest
from OpenSSL import SSL

from rooms.compat import tls_accepts_curve
from tests.conftest import Server
from tests.studioprocess import spawn_test_studio


def _stats(state: dict[str, Any], studio: str = "alpha") -> dict[str, Any]:
    return next(s for s in state["studios"] if s["id"] == studio)["stats"] or {}


async def test_ffmpeg_whip_with_its_own_certificate_publishes_or_is_named(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="rooms.whipsession")
    studio = spawn_test_studio(
        server, "alpha", pattern="red", width=320, height=180, bitrate=300_000, duration=4,
        own_certificate=False, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        if tls_accepts_curve("secp224r1"):
            state = await server.wait_for(lambda s: _stats(s).get("video_frames", 0) >= 30, timeout=30)
            assert _stats(state)["codec"] == "H264" and _stats(state)["resolution"] == "320x180", state
            return
        _, err = await asyncio.to_thread(studio.communicate, timeout=30)
    finally:
        if studio.poll() is None:
            studio.terminate()
            await asyncio.to_thread(studio.communicate, timeout=15)
    # The publisher is told only "Input/output error" (its DTLS got a fatal alert) ...
    assert studio.returncode == 1 and b"Input/output error" in err, err.decode(errors="replace")
    # ... the server's log says why, once, with what to do.
    lines = [r.getMessage() for r in caplog.records if "DTLS" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("studio alpha: DTLS handshake failed"), lines
    assert "secp224r1" in lines[0] and "P-256" in lines[0] and "-cert_file" in lines[0], lines
    _, state = await server.api("GET", "/api/shows/test-show")
    assert not _stats(state).get("video_frames"), state


def test_the_curve_probe_matches_the_tls_library_and_leaves_no_error_behind() -> None:
    assert tls_accepts_curve("secp256r1") and tls_accepts_curve("secp384r1")
    assert not tls_accepts_curve("no-such-curve")
    # A refusal queues an OpenSSL error; left there, the next pyOpenSSL call on this thread
    # would raise it as its own.
    context = SSL.Context(SSL.DTLS_METHOD)
    context.set_cipher_list(b"ECDHE-ECDSA-AES128-GCM-SHA256")
