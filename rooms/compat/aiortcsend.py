"""aiortc's sender: where a viewer's keyframe requests go, and the RTP timestamps it sent;
pinned (rooms/compat/pins.py).

aiortc's ``RTCRtpSender`` answers an RTCP PLI or FIR (``_handle_rtcp_packet``) by calling
its private ``_send_keyframe``, which only flags its own encoder.  A WHEP viewer's track
yields already-encoded packets (rooms/packettrack.py): that encoder is never used, so the
flag would be lost.  :func:`route_keyframe_requests` points the hook at the encoder of what
that viewer gets instead (rate-limited there).
Removed by: an aiortc sender event or callback for keyframe requests that works when the
track yields ``av.Packet``s.
"""

from __future__ import annotations

from collections.abc import Callable

import aiortc.codecs.h264
from aiortc.rtcrtpsender import RTCRtpSender

from rooms.compat.pins import Pins

PINNED: Pins = {
    "RTCRtpSender._send_keyframe": (RTCRtpSender._send_keyframe, "26c49629470d1928"),
    # calls self._send_keyframe() for PLI and FIR
    "RTCRtpSender._handle_rtcp_packet": (RTCRtpSender._handle_rtcp_packet, "a4ee4c7355f8de7a"),
    # crew monitor clock (below): keeps the last RTP timestamp sent in __rtp_timestamp ...
    "RTCRtpSender._run_rtp": (RTCRtpSender._run_rtp, "ff597a1d554cb373"),
    # ... which is a random origin plus the packet's pts in 90 kHz
    "H264Encoder.pack": (aiortc.codecs.h264.H264Encoder.pack, "0203f2c577882e24"),
}


def route_keyframe_requests(sender: RTCRtpSender, on_request: Callable[[], None]) -> None:
    """Call ``on_request()`` (on the event loop) for every PLI/FIR ``sender`` receives, instead of aiortc's flag."""
    sender._send_keyframe = on_request  # type: ignore[method-assign]


# -- crew monitor: the RTP timestamp a sender last sent ------------------------------------
# The control page's program monitor measures its glass-to-glass delay by mapping the RTP
# timestamp of the frame it shows (requestVideoFrameCallback's ``rtpTimestamp``) to the
# program clock's tick (rooms/monitorsession.py). aiortc adds a random origin
# (``random32()``, a local of ``_run_rtp``) to each packet's timestamp (``H264Encoder.pack``:
# the packet's pts in 90 kHz) and keeps the last one it sent in the name-mangled
# ``__rtp_timestamp`` (for its RTCP sender reports). Nothing is replaced: that attribute is
# only read, once the sender has sent a frame whose pts we know, to learn the origin.
# Removed by: an aiortc sender that exposes its RTP timestamp origin (or the RTP
# timestamp of each frame it sends).


def sent_rtp_timestamp(sender: RTCRtpSender) -> int:
    """The RTP timestamp (32 bits) of the last packet ``sender`` sent (0 before the first)."""
    return int(sender._RTCRtpSender__rtp_timestamp)  # type: ignore[attr-defined]
