"""What an encoded video frame or RTP packet says about itself: keyframe, start of a frame.

Payload-level knowledge of the codecs aiortc receives (H.264, VP8), for
rooms/framebuffer.py; the bytes are as aiortc depayloads them (H.264 as Annex B).
"""

from __future__ import annotations

from aiortc.rtp import RtpPacket


def is_keyframe(codec_name: str, data: bytes) -> bool:
    """Whether an encoded frame (as aiortc depayloads it) decodes on its own.

    H.264: Annex B with an IDR slice (NAL type 5, H.264 7.4.1.2). VP8: frame tag bit 0
    clear (RFC 6386 9.1). Other codecs: treated as decodable (we cannot tell).
    """
    if not data:
        return False
    name = codec_name.upper()
    if name == "VP8":
        return data[0] & 0x01 == 0
    if name == "H264":
        pos = data.find(b"\x00\x00\x01")
        while 0 <= pos < len(data) - 3:
            if data[pos + 3] & 0x1F == 5:
                return True
            pos = data.find(b"\x00\x00\x01", pos + 3)
        return False
    return True


def starts_frame(codec_name: str, packet: RtpPacket) -> bool:
    """Whether a packet is, by its own payload, the first of a frame (the packet before may be lost).

    H.264 (aiortc depayloads to Annex B): the first NAL unit is an access unit delimiter
    or an SPS (nothing of the picture precedes them, H.264 7.4.1.2.3), or a non-IDR slice
    with ``first_mb_in_slice`` 0 (its ue(v) code is a single 1 bit; an IDR slice is not
    enough: the picture's SPS and PPS may be in the packet before). VP8: the payload
    descriptor's S bit with partition index 0 (RFC 7741 4.2).
    """
    name = codec_name.upper()
    if name == "H264":
        data: bytes = getattr(packet, "_data", b"")
        if len(data) < 6 or not data.startswith(b"\x00\x00\x00\x01"):
            return False
        nal_type = data[4] & 0x1F
        return nal_type in (7, 9) or (nal_type == 1 and bool(data[5] & 0x80))
    if name == "VP8":
        return len(packet.payload) > 0 and packet.payload[0] & 0x17 == 0x10
    return False
