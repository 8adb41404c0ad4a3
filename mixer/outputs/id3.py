"""ID3v2.4 tags that carry a timed metadata cue in HLS (Apple, "Timed Metadata for HTTP Live Streaming").

In an MPEG-TS segment the tag is the payload of a PES packet on its own PID with
``stream_type`` 0x15 (metadata in PES), announced in the PMT by an ``ID3 ``
registration descriptor and a metadata descriptor; FFmpeg's mpegts muxer writes
exactly that for a ``timed_id3`` data stream, so each segment mux gets one such
stream and every cue goes in as one packet at its frame's pts.

The cue travels in one ``TXXX`` frame (user-defined text, UTF-8): description
``DESCRIPTION``, value the cue's JSON.  hls.js hands it to the page as a
``FRAG_PARSING_METADATA`` sample whose frames include
``{key: "TXXX", info: DESCRIPTION, data: json}``.
"""

from __future__ import annotations

DESCRIPTION = "broadcast.cue"


def _syncsafe(n: int) -> bytes:
    """ID3v2.4 sizes: 4 bytes of 7 bits each (ID3v2.4 structure, section 6.2)."""
    if n >= 1 << 28:
        raise ValueError("ID3 tag too large")
    return bytes(((n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F))


def _unsyncsafe(b: bytes) -> int:
    return (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3]


def id3_tag(value: str, description: str = DESCRIPTION) -> bytes:
    """A whole ID3v2.4 tag with one TXXX frame (encoding 3 = UTF-8)."""
    body = b"\x03" + description.encode() + b"\x00" + value.encode()
    frame = b"TXXX" + _syncsafe(len(body)) + b"\x00\x00" + body
    return b"ID3\x04\x00\x00" + _syncsafe(len(frame)) + frame


def parse_id3(tag: bytes) -> dict[str, str]:
    """TXXX description -> value of one ID3v2.4 tag; ValueError if it is not one."""
    if len(tag) < 10 or tag[:3] != b"ID3" or tag[3] != 4:
        raise ValueError("not an ID3v2.4 tag")
    end = 10 + _unsyncsafe(tag[6:10])
    pos, out = 10, {}
    while pos + 10 <= min(end, len(tag)):
        frame_id, size = tag[pos : pos + 4], _unsyncsafe(tag[pos + 4 : pos + 8])
        if frame_id == b"\x00\x00\x00\x00":
            break
        body = tag[pos + 10 : pos + 10 + size]
        if frame_id == b"TXXX" and body[:1] == b"\x03":
            description, _, value = body[1:].partition(b"\x00")
            out[description.decode()] = value.decode()
        pos += 10 + size
    return out
