"""Every patch of a library's internals (aiortc, aioice, aiohttp), in one package, each pinned.

One module per library concern, each patch in its own headed section saying why it is
there and which upstream change would remove it:

* :mod:`rooms.compat.aioicepatches`: host addresses, the UDP port range, the sockets'
  receive buffers, consent and media arrival (aioice);
* :mod:`rooms.compat.aiortccodecs`: receiving any decodable H.264, the H.264 High family
  and payload types 35-63 in aiortc's tables, FIR in answers, a transceiver's codecs;
* :mod:`rooms.compat.aiortcreceive`: the video receive path (frame buffer, PLI/FIR,
  per-SSRC stats), the decoder threads' stop, and talkback's one-packet audio buffer;
* :mod:`rooms.compat.aiortcnack`: NACKs asked again per packet (the receive path's);
* :mod:`rooms.compat.aiortcsend`: a viewer's keyframe requests routed to our encoders, the
  RTP timestamp a sender last sent (the crew monitor's clock);
* :mod:`rooms.compat.aiortcdtls`: why a DTLS handshake failed, in one line (a publisher's
  certificate on a curve the TLS library refuses: FFmpeg's whip muxer by default);
* :mod:`rooms.compat.aiohttpweb`: a request aiohttp's HTTP parser refuses, answered with
  the app's JSON refusal and one log line instead of plain text and a traceback.

The media patches are applied once, at start, by :func:`install` (the app factory and each
ingest worker; sessions made without the app, in tests and benches, call it too:
idempotent); the HTTP one by ``aiohttpweb.install(render)`` in the app factory, which
passes its error answer (this package does not depend on the orchestrator).  Each
patched or relied-on upstream object is pinned by a hash of its source (:func:`pins`,
checked by tests/rooms/test_compat.py and logged by each install when one differs).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from rooms.compat import aioicepatches, aiortccodecs
from rooms.compat.aioicepatches import (
    CONSENT_INTERVAL_S,
    CONSENT_MISSES,
    ice_sockets,
    last_media_arrival,
    offer_host_addresses,
    use_port_range,
    use_receive_buffer,
)
from rooms.compat.aiortccodecs import (
    FIR,
    HIGH_FAMILY,
    PINNED_CODEC_NEGOTIATION,
    h264_parameters,
    h264_receivable,
    negotiated_codecs,
    receiving_codecs,
    register_h264_high,
)
from rooms.compat.aiortcdtls import handshake_failure, tls_accepts_curve
from rooms.compat.aiortcnack import MAX_NACKS_PER_PACKET, RetryingNackGenerator
from rooms.compat.aiortcreceive import (
    KEYFRAME_REQUEST_INTERVAL,
    PINNED_RECEIVE_PATH,
    ReceivePath,
    install_receive_path,
    shorten_audio_jitter,
    stop_decoders,
)
from rooms.compat.aiortcsend import route_keyframe_requests, sent_rtp_timestamp
from rooms.compat.pins import Pins, log_changed, source_hash

__all__ = [
    "CONSENT_INTERVAL_S",
    "CONSENT_MISSES",
    "FIR",
    "HIGH_FAMILY",
    "KEYFRAME_REQUEST_INTERVAL",
    "MAX_NACKS_PER_PACKET",
    "MEDIA_MODULES",
    "MODULES",
    "PINNED",
    "PINNED_CODEC_NEGOTIATION",
    "PINNED_RECEIVE_PATH",
    "ReceivePath",
    "RetryingNackGenerator",
    "h264_parameters",
    "handshake_failure",
    "h264_receivable",
    "ice_sockets",
    "install",
    "install_receive_path",
    "last_media_arrival",
    "negotiated_codecs",
    "offer_host_addresses",
    "pins",
    "receiving_codecs",
    "register_h264_high",
    "route_keyframe_requests",
    "shorten_audio_jitter",
    "sent_rtp_timestamp",
    "source_hash",
    "stop_decoders",
    "tls_accepts_curve",
    "use_port_range",
    "use_receive_buffer",
]

# The media patch modules, applied in every process (ingest workers too), imported above.
MEDIA_MODULES = ("aioicepatches", "aiortccodecs", "aiortcdtls", "aiortcnack", "aiortcreceive", "aiortcsend")
# Every patch module.  aiohttpweb is imported only where it is applied or checked (the server,
# the tests): the ingest workers, spawned afresh, serve no HTTP, and importing aiohttp's server
# cost each 0.2-0.46 s more at start (measured, six runs on the 2-core machine, loaded).
MODULES = (*MEDIA_MODULES, "aiohttpweb")


def pins(modules: Iterable[str] = MODULES) -> Pins:
    """Every pinned upstream object of the patch modules named (in this package, imported
    here), each named by its module: ``"aioicepatches: get_host_addresses"``."""
    return {
        f"{module}: {name}": pin
        for module in modules
        for name, pin in importlib.import_module(f"{__name__}.{module}").PINNED.items()
    }


# The media patches' pins, checked by install().
PINNED: Pins = pins(MEDIA_MODULES)

_installed = False


def install() -> None:
    """Apply the process-wide media patches (aioice, aiortc's codec tables and matching), once.

    Logs an error per pinned upstream object whose source differs from the pin (an
    upgrade nobody re-read the patches against); the patches are applied all the same.
    """
    global _installed
    if _installed:
        return
    _installed = True
    log_changed(PINNED)
    aioicepatches.install()
    aiortccodecs.install()
