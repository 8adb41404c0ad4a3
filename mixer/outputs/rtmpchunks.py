"""RTMP's handshake and chunk stream, without I/O (Adobe "RTMP Specification 1.0", 2012).

The studio ingest server (rooms/rtmpserver.py) and the push client (mixer/outputs/rtmppublish.py)
feed bytes in and get messages out.

- Handshake (spec 5.2): C0/S0 one version byte (3), C1/S1 1536 bytes (time, zero, random),
  C2/S2 the echo of the other side's 1/S1. The simple form: FFmpeg and librtmp (OBS)
  publishers accept it (they validate the digest form only when playing).
- Chunks (spec 5.3): a basic header (format, chunk stream id), a message header of 11, 7, 3 or
  0 bytes, an extended timestamp when the 24-bit field is 0xFFFFFF, then up to ``chunk_size``
  bytes of the message. :class:`ChunkReader` reassembles messages, applies Set Chunk Size and
  Abort itself, and refuses what would make it allocate without bound (:class:`ChunkError`).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

VERSION = 3
HANDSHAKE_SIZE = 1536
DEFAULT_CHUNK_SIZE = 128  # spec 5.4.1, until a Set Chunk Size
MAX_CHUNK_SIZE = 1 << 20  # ours: encoders use 4096 (OBS, FFmpeg); more is an attack or a bug
MAX_MESSAGE_SIZE = 8 << 20  # ours: a 1080p keyframe at 20 Mbit/s is well under 1 MiB
MAX_CHUNK_STREAMS = 64  # ours: publishers use fewer than ten

# Message type ids (spec 5.4, 7.1)
SET_CHUNK_SIZE, ABORT, ACK, USER_CONTROL, WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH = 1, 2, 3, 4, 5, 6
AUDIO, VIDEO, DATA_AMF3, COMMAND_AMF3, DATA_AMF0, COMMAND_AMF0 = 8, 9, 15, 17, 18, 20


class ChunkError(ValueError):
    """The peer's bytes break the chunk stream (or our bounds); the connection must end."""


def handshake_s0s1s2(c1: bytes) -> bytes:
    """The server's S0+S1+S2 answer to a client's C1 (simple handshake)."""
    if len(c1) != HANDSHAKE_SIZE:
        raise ChunkError("C1 must be 1536 bytes")
    s1 = bytes(8) + os.urandom(HANDSHAKE_SIZE - 8)
    return bytes([VERSION]) + s1 + c1


def handshake_c0c1() -> bytes:
    return bytes([VERSION]) + bytes(8) + os.urandom(HANDSHAKE_SIZE - 8)


@dataclass
class Message:
    type_id: int
    stream_id: int
    timestamp: int  # milliseconds, 32 bits (wraps)
    payload: bytes


@dataclass
class _Stream:
    """What the previous chunk on one chunk stream said (formats 1-3 inherit it)."""

    timestamp: int = 0
    delta: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    partial: bytearray = field(default_factory=bytearray)


class ChunkReader:
    """Bytes in (:meth:`feed`), whole messages out; raises ChunkError on a broken stream."""

    def __init__(self) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self._buf = bytearray()
        self._streams: dict[int, _Stream] = {}
        self.bytes_in = 0

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        self.bytes_in += len(data)
        out: list[Message] = []
        pos = 0
        while True:
            step = self._chunk(pos, out)
            if step is None:
                break
            pos = step
        del self._buf[:pos]
        if len(self._buf) > self.chunk_size + 64:  # never more than one chunk's worth is pending
            raise ChunkError("chunk larger than the chunk size")
        return out

    def _chunk(self, pos: int, out: list[Message]) -> int | None:
        """Parse one chunk at ``pos``; the offset after it, or None until more bytes arrive."""
        buf = self._buf
        if pos >= len(buf):
            return None
        fmt, csid = buf[pos] >> 6, buf[pos] & 0x3F
        pos += 1
        if csid == 0:
            if pos + 1 > len(buf):
                return None
            csid, pos = 64 + buf[pos], pos + 1
        elif csid == 1:
            if pos + 2 > len(buf):
                return None
            csid, pos = 64 + buf[pos] + 256 * buf[pos + 1], pos + 2
        size = (11, 7, 3, 0)[fmt]
        if pos + size > len(buf):
            return None
        stream = self._streams.get(csid)
        if stream is None:
            if fmt != 0:
                raise ChunkError(f"chunk stream {csid} starts without a full header")
            if len(self._streams) >= MAX_CHUNK_STREAMS:
                raise ChunkError("too many chunk streams")
            stream = _Stream()
        header = bytes(buf[pos : pos + size])
        pos += size
        ts_field = int.from_bytes(header[0:3], "big") if fmt < 3 else None
        extended = ts_field == 0xFFFFFF if ts_field is not None else stream.extended
        if extended:
            if pos + 4 > len(buf):
                return None
            ts_value = int.from_bytes(buf[pos : pos + 4], "big")
            pos += 4
        else:
            ts_value = ts_field or 0
        starting = not stream.partial
        length = int.from_bytes(header[3:6], "big") if fmt in (0, 1) else stream.length
        if length > MAX_MESSAGE_SIZE:
            raise ChunkError(f"message of {length} bytes (limit {MAX_MESSAGE_SIZE})")
        take = min(self.chunk_size, length - len(stream.partial))
        if pos + take > len(buf):
            return None
        # The whole chunk is here: commit its header to the stream's state.
        self._streams[csid] = stream
        stream.extended = extended
        if fmt in (0, 1):
            stream.length, stream.type_id = length, header[6]
        if fmt == 0:
            stream.stream_id = struct.unpack("<I", header[7:11])[0]
            stream.timestamp, stream.delta = ts_value, 0
        elif fmt in (1, 2):
            stream.delta = ts_value
            stream.timestamp = (stream.timestamp + ts_value) & 0xFFFFFFFF
        elif starting:  # format 3 starting a new message: the previous delta again
            stream.timestamp = (stream.timestamp + stream.delta) & 0xFFFFFFFF
        stream.partial += buf[pos : pos + take]
        pos += take
        if len(stream.partial) == stream.length:
            message = Message(stream.type_id, stream.stream_id, stream.timestamp, bytes(stream.partial))
            stream.partial.clear()
            self._control(message, out)
        return pos

    def _control(self, message: Message, out: list[Message]) -> None:
        if message.type_id == SET_CHUNK_SIZE:
            if len(message.payload) < 4:
                raise ChunkError("short Set Chunk Size")
            size = struct.unpack(">I", message.payload[:4])[0] & 0x7FFFFFFF
            if not 1 <= size <= MAX_CHUNK_SIZE:
                raise ChunkError(f"chunk size {size} refused (limit {MAX_CHUNK_SIZE})")
            self.chunk_size = size
        elif message.type_id == ABORT and len(message.payload) >= 4:
            aborted = self._streams.get(struct.unpack(">I", message.payload[:4])[0])
            if aborted is not None:
                aborted.partial.clear()
        else:
            out.append(message)


def encode_message(csid: int, message: Message, chunk_size: int) -> bytes:
    """``message`` as chunks on chunk stream ``csid`` (2-63): a full header, then format 3."""
    ts = message.timestamp & 0xFFFFFFFF
    extended = ts >= 0xFFFFFF
    ext = struct.pack(">I", ts) if extended else b""
    header = (
        bytes([csid])
        + (0xFFFFFF if extended else ts).to_bytes(3, "big")
        + len(message.payload).to_bytes(3, "big")
        + bytes([message.type_id])
        + struct.pack("<I", message.stream_id)
        + ext
    )
    out = bytearray()
    payload = message.payload
    for start in range(0, max(len(payload), 1), chunk_size):
        out += header if start == 0 else bytes([0xC0 | csid]) + ext
        out += payload[start : start + chunk_size]
    return bytes(out)


def control(type_id: int, value: int) -> bytes:
    """A protocol control message (chunk stream 2, message stream 0) with one 32-bit value."""
    return encode_message(2, Message(type_id, 0, 0, struct.pack(">I", value)), DEFAULT_CHUNK_SIZE)


def peer_bandwidth(value: int) -> bytes:
    return encode_message(2, Message(SET_PEER_BANDWIDTH, 0, 0, struct.pack(">IB", value, 2)), DEFAULT_CHUNK_SIZE)


def stream_begin(stream_id: int) -> bytes:
    """User control "Stream Begin" (spec 7.1.7, event 0)."""
    return encode_message(2, Message(USER_CONTROL, 0, 0, struct.pack(">HI", 0, stream_id)), DEFAULT_CHUNK_SIZE)
