"""Is an RTMP server answering? Checked before FFmpeg connects to it.

PyAV opens an output's ``rtmp://`` connection (``avio_open``, at the first packet) while holding
the GIL, and FFmpeg's RTMP protocol has no timeout there: a server that accepts TCP and then
says nothing froze the whole process, program clock included, until TCP gave up. So the push
worker first makes the same moves itself with plain sockets (which release the GIL) and a
deadline: TCP connect, the RTMP handshake (C0+C1 -> S0+S1+S2, rooms/rtmpchunks.py) and a
``connect`` command, which any RTMP server answers (``_result``, or ``_error`` for a wrong
application: FFmpeg then fails fast by itself). Only a server that answers gets FFmpeg.

Left: a server that answers this check and then stalls FFmpeg's own connection a moment
later still holds the GIL for as long as it stalls (rare: the same server, seconds apart).
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from rooms import amf0
from rooms.rtmpchunks import COMMAND_AMF0, DEFAULT_CHUNK_SIZE, HANDSHAKE_SIZE, ChunkReader, Message, encode_message
from rooms.rtmpchunks import handshake_c0c1 as c0c1

DEFAULT_PORT = 1935


class RtmpUnreachable(ConnectionError):
    """The server did not answer in time (or is not RTMP); the message says what was missing."""


def ffmpeg_app(path: str) -> str:
    """The application FFmpeg's rtmp protocol names in ``connect`` for a URL path: the first
    segment, or the first two when the path has three or more (``/live/show/key`` -> ``live/show``)."""
    segments = path.lstrip("/").split("/")
    return "/".join(segments[:2]) if len(segments) > 2 else segments[0]


def probe(url: str, timeout: float = 5.0) -> None:
    """Raise :class:`RtmpUnreachable` unless the server at ``url`` completes the handshake and
    answers ``connect`` within ``timeout`` seconds in all. Blocking: call it from a worker thread."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or DEFAULT_PORT
    deadline = time.monotonic() + timeout

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RtmpUnreachable(f"no RTMP answer from {host}:{port} within {timeout:g} s ({step})")
        return remaining

    step = "TCP connect"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            step = "handshake"
            sock.sendall(c0c1())
            answer = bytearray()
            while len(answer) < 1 + 2 * HANDSHAKE_SIZE:
                sock.settimeout(left())
                data = sock.recv(65536)
                if not data:
                    raise RtmpUnreachable(f"{host}:{port} closed the connection during the RTMP handshake")
                answer += data
            if answer[0] != 3:
                raise RtmpUnreachable(f"{host}:{port} is not an RTMP server (version byte {answer[0]})")
            app = ffmpeg_app(parts.path)
            props = {"app": app, "tcUrl": f"rtmp://{host}:{port}/{app}", "type": "nonprivate"}
            command = Message(COMMAND_AMF0, 0, 0, amf0.encode("connect", 1, props))
            c2 = bytes(answer[1 : 1 + HANDSHAKE_SIZE])  # the echo of S1
            sock.sendall(c2 + encode_message(3, command, DEFAULT_CHUNK_SIZE))
            step = "answer to connect"
            chunks = ChunkReader()
            chunks.feed(bytes(answer[1 + 2 * HANDSHAKE_SIZE :]))
            while True:
                sock.settimeout(left())
                data = sock.recv(65536)
                if not data:
                    return  # it answered by closing: FFmpeg will fail fast too, no hang
                if any(m.type_id == COMMAND_AMF0 for m in chunks.feed(data)):
                    return
    except TimeoutError:
        raise RtmpUnreachable(f"no RTMP answer from {host}:{port} within {timeout:g} s ({step})") from None
