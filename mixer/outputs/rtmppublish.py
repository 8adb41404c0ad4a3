"""One RTMP publish connection, client side, in plain sockets with deadlines.

Why not FFmpeg's ``rtmp://`` protocol through PyAV: PyAV opens it while holding the GIL and
FFmpeg has no timeout there, so a server that accepts TCP and never answers froze the whole
process (program clock included); and writes had no timeout either. Here every step has a
deadline and blocking socket calls release the GIL: a silent or stalled server is an error
in the push worker's thread and nothing else.

The sequence is the one FFmpeg and OBS use (Adobe "RTMP Specification 1.0"; mixer/outputs/rtmpchunks.py
for the handshake and chunks): handshake, ``connect`` (app, tcUrl), Set Chunk Size,
``releaseStream``, ``FCPublish``, ``createStream``, ``publish`` (live), then
``@setDataFrame onMetaData`` and the FLV tag bodies as audio (8), video (9) and data (18)
messages, which is what FFmpeg's own client sends for its flv muxer's output. The URL splits
as FFmpeg splits it: ``rtmp://host[:port]/app[/instance]/stream`` (``/live/key`` -> app
``live``, stream ``key``; ``/a/b/key`` -> app ``a/b``). ``rtmps://`` runs the same over TLS.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
import time
from typing import Any
from urllib.parse import urlsplit

from mixer.outputs import amf0
from mixer.outputs.rtmpchunks import (
    COMMAND_AMF0,
    DATA_AMF0,
    HANDSHAKE_SIZE,
    SET_CHUNK_SIZE,
    USER_CONTROL,
    ChunkReader,
    Message,
    encode_message,
    handshake_c0c1,
)

OUT_CHUNK_SIZE = 4096
PORTS = {"rtmp": 1935, "rtmps": 443}
_CSID = {8: 4, 9: 6, 18: 5}  # chunk stream per message type (audio, video, data); commands on 3


class RtmpError(ConnectionError):
    """The server refused, did not answer in time, or broke the protocol; the message says which."""


def split_url(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, app, stream name) as FFmpeg's rtmp protocol reads the URL."""
    parts = urlsplit(url)
    path = parts.path.lstrip("/")
    if parts.query:
        path += "?" + parts.query
    head, _, rest = path.partition("/")
    app, stream = head, rest
    if "/" in rest.split("?", 1)[0]:  # three segments or more: the app has an instance
        second, _, stream = rest.partition("/")
        app = f"{head}/{second}"
    return parts.scheme, parts.hostname or "", parts.port or PORTS.get(parts.scheme, 1935), app, stream


class RtmpPublish:
    """Connect with :meth:`open`, then :meth:`send` FLV tag bodies; every call bounded by ``timeout``."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.scheme, self.host, self.port, self.app, self.stream = split_url(url)
        self.timeout = timeout
        self.stream_id = 0
        self.bytes_sent = 0
        self._sock: socket.socket | None = None
        self._chunks = ChunkReader()
        self._pending = bytearray()  # handshake bytes read ahead
        self._txn = 0

    # -- set-up --------------------------------------------------------------------------
    def open(self) -> None:
        """Connect and publish; RtmpError (or OSError) if that does not complete in time."""
        deadline = time.monotonic() + 2 * self.timeout  # TCP/TLS + handshake, then the commands
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        try:
            if self.scheme == "rtmps":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
            self._sock = sock
            sock.sendall(handshake_c0c1())
            answer = self._recv_exactly(1 + HANDSHAKE_SIZE, deadline, "the handshake")
            if answer[0] != 3:
                raise RtmpError(f"{self.host}:{self.port} is not an RTMP server (version byte {answer[0]})")
            sock.sendall(answer[1:])  # C2, the echo of S1: some servers (FFmpeg's) send S2 only after it
            self._recv_exactly(HANDSHAKE_SIZE, deadline, "the handshake")  # S2
            self._chunks.feed(bytes(self._pending))  # the server's first messages, if already here
            sock.sendall(encode_message(2, Message(SET_CHUNK_SIZE, 0, 0, struct.pack(">I", OUT_CHUNK_SIZE)), 128))
            tc_url = f"{self.scheme}://{self.host}:{self.port}/{self.app}"
            props = {"app": self.app, "type": "nonprivate", "flashVer": "FMLE/3.0", "tcUrl": tc_url}
            self._call("connect", props)
            self._expect_result("connect", deadline)
            self._call("releaseStream", None, self.stream)
            self._call("FCPublish", None, self.stream)
            txn = self._call("createStream", None)
            result = self._expect_result("createStream", deadline, txn)
            self.stream_id = int(result[3]) if len(result) > 3 and isinstance(result[3], float) else 1
            self._call("publish", None, self.stream, "live", stream_id=self.stream_id)
            self._expect_status("NetStream.Publish.Start", deadline)
        except BaseException:
            self.close()
            raise

    def _recv_exactly(self, n: int, deadline: float, what: str) -> bytes:
        data = self._pending
        while len(data) < n:
            data += self._recv(deadline, what)
        self._pending = data[n:]  # what the server sent right after (S2, or its first messages)
        return bytes(data[:n])

    def _recv(self, deadline: float, what: str) -> bytes:
        assert self._sock is not None
        left = deadline - time.monotonic()
        if left <= 0:
            raise RtmpError(f"no answer from {self.host}:{self.port} to {what} in time")
        self._sock.settimeout(left)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            raise RtmpError(f"no answer from {self.host}:{self.port} to {what} in time") from None
        if not data:
            raise RtmpError(f"{self.host}:{self.port} closed the connection during {what}")
        return data

    def _call(self, name: str, *args: Any, stream_id: int = 0) -> int:
        assert self._sock is not None
        self._txn += 1
        body = amf0.encode(name, self._txn if name != "publish" else 0, *args)
        self._sock.sendall(
            encode_message(3 if stream_id == 0 else 8, Message(COMMAND_AMF0, stream_id, 0, body), OUT_CHUNK_SIZE)
        )
        return self._txn

    def _commands(self, deadline: float, what: str) -> list[list[Any]]:
        out: list[list[Any]] = []
        while not out:
            for message in self._chunks.feed(self._recv(deadline, what)):
                self._control(message)
                if message.type_id == COMMAND_AMF0:
                    out.append(amf0.decode(message.payload))
        return out

    def _expect_result(self, what: str, deadline: float, txn: int | None = None) -> list[Any]:
        while True:
            for values in self._commands(deadline, what):
                name = values[0] if values else None
                if name == "_error" and (txn is None or values[1] == txn):
                    info = values[3] if len(values) > 3 and isinstance(values[3], dict) else {}
                    raise RtmpError(f"{what} refused: {info.get('code', '?')} {info.get('description', '')}".strip())
                if name == "_result" and (txn is None or values[1] == txn):
                    return values

    def _expect_status(self, code: str, deadline: float) -> None:
        while True:
            for values in self._commands(deadline, "publish"):
                if values and values[0] == "onStatus" and len(values) > 3 and isinstance(values[3], dict):
                    info = values[3]
                    if info.get("code") == code:
                        return
                    if info.get("level") == "error":
                        raise RtmpError(f"publish refused: {info.get('code')} {info.get('description', '')}".strip())

    def _control(self, message: Message) -> None:
        """Answer a ping (user control event 6 -> 7); the rest needs nothing from a publisher."""
        if message.type_id == USER_CONTROL and message.payload[:2] == b"\x00\x06" and self._sock is not None:
            pong = Message(USER_CONTROL, 0, 0, b"\x00\x07" + message.payload[2:6])
            self._sock.sendall(encode_message(2, pong, OUT_CHUNK_SIZE))

    # -- media ---------------------------------------------------------------------------
    def send(self, tag_type: int, timestamp_ms: int, body: bytes) -> int:
        """One FLV tag body as an RTMP message; raises TimeoutError if the server stops reading."""
        sock = self._sock
        assert sock is not None, "open() first"
        if tag_type == DATA_AMF0 and body.startswith(b"\x02\x00\x0aonMetaData"):
            body = amf0.encode("@setDataFrame") + body  # what a server stores as the stream's metadata
        data = encode_message(_CSID[tag_type], Message(tag_type, self.stream_id, timestamp_ms, body), OUT_CHUNK_SIZE)
        sock.settimeout(self.timeout)
        sock.sendall(data)
        self.bytes_sent += len(data)
        self._read_pending()
        return len(body)

    def _read_pending(self) -> None:
        """Take what the server sent (acknowledgements, pings) without waiting."""
        sock = self._sock
        assert sock is not None
        tls_buffered = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        if not tls_buffered and not select.select([sock], [], [], 0)[0]:
            return  # (a recv with a timeout set would wait for it, whatever its flags)
        try:
            data = sock.recv(65536)
        except ssl.SSLWantReadError:
            return
        if not data:
            raise RtmpError(f"{self.host}:{self.port} closed the connection")
        for message in self._chunks.feed(data):
            self._control(message)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):
            if self.stream_id:
                sock.settimeout(1.0)
                self._sock = sock
                self._call("FCUnpublish", None, self.stream)
                self._call("deleteStream", None, float(self.stream_id))
                self._sock = None
        with contextlib.suppress(OSError):
            sock.close()
