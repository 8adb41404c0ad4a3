"""AMF0, the value encoding of RTMP commands (Adobe "Action Message Format -- AMF 0", 2007).

Only what RTMP command messages carry: number (0x00), boolean (0x01), string (0x02), object
(0x03), null (0x05), undefined (0x06), ECMA array (0x08), strict array (0x0A), date (0x0B),
long string (0x0C). Decoding is bounded (nesting depth, counts): the bytes come from the
network, and anything else raises :class:`AmfError`.
"""

from __future__ import annotations

import struct
from typing import Any

MAX_DEPTH = 16


class AmfError(ValueError):
    """Not AMF0 this module can read (truncated, unknown marker, too deep)."""


def encode(*values: Any) -> bytes:
    """AMF0 bytes of ``values`` in order (float/int, bool, str, dict, None, list)."""
    return b"".join(_encode(v) for v in values)


def ecma_array(fields: dict[str, Any]) -> bytes:
    """An ECMA array (0x08) of ``fields``: what an FLV ``onMetaData`` carries."""
    return (
        b"\x08"
        + struct.pack(">I", len(fields))
        + b"".join(_string(k) + _encode(v) for k, v in fields.items())
        + b"\x00\x00\x09"
    )


def _string(text: str) -> bytes:
    data = text.encode()
    if len(data) > 0xFFFF:
        raise AmfError("string longer than 65535 bytes")
    return struct.pack(">H", len(data)) + data


def _encode(value: Any) -> bytes:
    if value is None:
        return b"\x05"
    if isinstance(value, bool):
        return b"\x01" + (b"\x01" if value else b"\x00")
    if isinstance(value, int | float):
        return b"\x00" + struct.pack(">d", float(value))
    if isinstance(value, str):
        return b"\x02" + _string(value)
    if isinstance(value, dict):
        return b"\x03" + b"".join(_string(str(k)) + _encode(v) for k, v in value.items()) + b"\x00\x00\x09"
    if isinstance(value, list | tuple):
        return b"\x0a" + struct.pack(">I", len(value)) + b"".join(_encode(v) for v in value)
    raise AmfError(f"cannot encode {type(value).__name__} in AMF0")


def decode(data: bytes) -> list[Any]:
    """Every value in ``data``; raises AmfError on bytes that are not AMF0."""
    reader = _Reader(data)
    values = []
    while reader.pos < len(data):
        values.append(reader.value(0))
    return values


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise AmfError("truncated AMF0 value")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def string(self, long: bool = False) -> str:
        size = struct.unpack(">I" if long else ">H", self.take(4 if long else 2))[0]
        try:
            return self.take(size).decode()
        except UnicodeDecodeError:
            raise AmfError("string is not UTF-8") from None

    def properties(self, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while True:
            key = self.string()
            if key == "" and self.data[self.pos : self.pos + 1] == b"\x09":
                self.pos += 1
                return out
            out[key] = self.value(depth + 1)

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise AmfError("AMF0 nested too deeply")
        marker = self.take(1)[0]
        if marker == 0x00:
            return struct.unpack(">d", self.take(8))[0]
        if marker == 0x01:
            return self.take(1) != b"\x00"
        if marker == 0x02:
            return self.string()
        if marker == 0x03:
            return self.properties(depth)
        if marker in (0x05, 0x06):
            return None
        if marker == 0x08:
            self.take(4)  # the count is a hint; the list ends with the object-end marker
            return self.properties(depth)
        if marker == 0x0A:
            count = struct.unpack(">I", self.take(4))[0]
            if count > len(self.data) - self.pos:  # every value takes at least one byte
                raise AmfError("strict array longer than the message")
            return [self.value(depth + 1) for _ in range(count)]
        if marker == 0x0B:
            millis = struct.unpack(">d", self.take(8))[0]
            self.take(2)  # time zone: reserved, 0
            return millis
        if marker == 0x0C:
            return self.string(long=True)
        raise AmfError(f"unknown AMF0 marker 0x{marker:02x}")
