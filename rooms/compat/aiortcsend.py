"""aiortc's sender: where a viewer's keyframe requests go, pinned (rooms/compat/pins.py).

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

from aiortc.rtcrtpsender import RTCRtpSender

from rooms.compat.pins import Pins

PINNED: Pins = {
    "RTCRtpSender._send_keyframe": (RTCRtpSender._send_keyframe, "26c49629470d1928"),
    # calls self._send_keyframe() for PLI and FIR
    "RTCRtpSender._handle_rtcp_packet": (RTCRtpSender._handle_rtcp_packet, "a4ee4c7355f8de7a"),
}


def route_keyframe_requests(sender: RTCRtpSender, on_request: Callable[[], None]) -> None:
    """Call ``on_request()`` (on the event loop) for every PLI/FIR ``sender`` receives, instead of aiortc's flag."""
    sender._send_keyframe = on_request  # type: ignore[method-assign]
