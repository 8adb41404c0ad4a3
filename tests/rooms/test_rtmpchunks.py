"""The RTMP chunk stream and AMF0 without a network: what encoders send, split anywhere."""

from __future__ import annotations

import struct

import pytest

from mixer.outputs import amf0
from mixer.outputs.rtmpchunks import (
    AUDIO,
    COMMAND_AMF0,
    MAX_CHUNK_SIZE,
    SET_CHUNK_SIZE,
    VIDEO,
    ChunkError,
    ChunkReader,
    Message,
    encode_message,
)


def _feed_bytewise(data: bytes) -> list[Message]:
    reader = ChunkReader()
    out: list[Message] = []
    for i in range(len(data)):
        out += reader.feed(data[i : i + 1])
    return out


def test_messages_survive_any_split_and_chunk_size_changes() -> None:
    command = Message(COMMAND_AMF0, 0, 0, amf0.encode("connect", 1, {"app": "live"}))
    big = Message(VIDEO, 1, 40, bytes(range(256)) * 40)  # 10 KiB: many chunks
    stream = (
        encode_message(3, command, 128)
        + encode_message(2, Message(SET_CHUNK_SIZE, 0, 0, struct.pack(">I", 4096)), 128)
        + encode_message(6, big, 4096)
        + encode_message(4, Message(AUDIO, 1, 0x1234567, b"\xaf\x01" + bytes(300)), 4096)  # extended timestamp
    )
    for messages in (ChunkReader().feed(stream), _feed_bytewise(stream)):
        assert [(m.type_id, m.timestamp, len(m.payload)) for m in messages] == [
            (COMMAND_AMF0, 0, len(command.payload)),
            (VIDEO, 40, len(big.payload)),
            (AUDIO, 0x1234567, 302),
        ]
        assert messages[1].payload == big.payload and messages[1].stream_id == 1
        assert amf0.decode(messages[0].payload) == ["connect", 1.0, {"app": "live"}]


def test_header_formats_1_to_3_inherit_from_the_previous_chunk() -> None:
    first = encode_message(4, Message(VIDEO, 1, 1000, b"a" * 10), 128)
    fmt1 = bytes([0x40 | 4]) + (33).to_bytes(3, "big") + (5).to_bytes(3, "big") + bytes([AUDIO]) + b"b" * 5
    fmt2 = bytes([0x80 | 4]) + (33).to_bytes(3, "big") + b"c" * 5
    fmt3 = bytes([0xC0 | 4]) + b"d" * 5  # a new message: the same length, type and delta again
    messages = ChunkReader().feed(first + fmt1 + fmt2 + fmt3)
    assert [(m.type_id, m.timestamp, m.payload) for m in messages] == [
        (VIDEO, 1000, b"a" * 10),
        (AUDIO, 1033, b"b" * 5),
        (AUDIO, 1066, b"c" * 5),
        (AUDIO, 1099, b"d" * 5),
    ]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (encode_message(2, Message(SET_CHUNK_SIZE, 0, 0, struct.pack(">I", MAX_CHUNK_SIZE + 1)), 128), "chunk size"),
        (bytes([0x03]) + bytes(3) + (12 << 20).to_bytes(3, "big") + b"\x09" + bytes(4), "message of"),
        (bytes([0xC5]) + b"x" * 10, "without a full header"),
    ],
)
def test_what_would_make_it_allocate_without_bound_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(ChunkError, match=why):
        ChunkReader().feed(data)


def test_amf0_refuses_what_it_cannot_read() -> None:
    assert amf0.decode(amf0.encode(1.5, True, "文字", None, [1, "a"], {"k": {"n": 2}})) == [
        1.5, True, "文字", None, [1.0, "a"], {"k": {"n": 2.0}},
    ]  # fmt: skip
    for bad in (b"\x02\x00\x05ab", b"\x11", b"\x0a\xff\xff\xff\xff", b"\x03" * 40):
        with pytest.raises(amf0.AmfError):
            amf0.decode(bad)
