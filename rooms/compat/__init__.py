"""Every patch of a library's internals (aiortc, aioice), in one package, each pinned.

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
  certificate on a curve the TLS library refuses: FFmpeg's whip muxer by default).

Process-wide patches are applied once, at start, by :func:`install` (the app factory;
sessions made without the app, in tests and benches, call it too: idempotent).  Each
patched or relied-on upstream object is pinned by a hash of its source (:data:`PINNED`,
checked by tests/rooms/test_compat.py and logged by :func:`install` when one differs).
"""

from __future__ import annotations

import logging

from rooms.compat import aioicepatches, aiortccodecs, aiortcdtls, aiortcnack, aiortcreceive, aiortcsend
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
from rooms.compat.pins import Pins, changed, source_hash

__all__ = [
    "CONSENT_INTERVAL_S",
    "CONSENT_MISSES",
    "FIR",
    "HIGH_FAMILY",
    "KEYFRAME_REQUEST_INTERVAL",
    "MAX_NACKS_PER_PACKET",
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

log = logging.getLogger(__name__)

# Every pinned upstream object, named by the module holding its patch: "aioicepatches: get_host_addresses".
PINNED: Pins = {
    f"{module.__name__.rpartition('.')[2]}: {name}": pin
    for module in (aioicepatches, aiortccodecs, aiortcdtls, aiortcnack, aiortcreceive, aiortcsend)
    for name, pin in module.PINNED.items()
}

_installed = False


def install() -> None:
    """Apply the process-wide patches (aioice, aiortc's codec tables and matching), once.

    Logs an error per pinned upstream object whose source differs from the pin (an
    upgrade nobody re-read the patches against); the patches are applied all the same.
    """
    global _installed
    if _installed:
        return
    _installed = True
    for line in changed(PINNED):
        log.error("compat: upstream source changed, re-read rooms/compat against it: %s", line)
    aioicepatches.install()
    aiortccodecs.install()
