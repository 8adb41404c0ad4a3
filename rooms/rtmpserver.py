"""RTMP ingest: studios that cannot do WebRTC (hardware encoders, older OBS) publish here.

An asyncio TCP server (``server.rtmp_ingest``, e.g. ``127.0.0.1:1935``) speaking the publish half
of RTMP (Adobe "RTMP Specification 1.0", 2012): the handshake and chunk stream
(mixer/outputs/rtmpchunks.py), the NetConnection/NetStream commands in AMF0 (mixer/outputs/amf0.py) --
``connect``, ``releaseStream``, ``FCPublish``, ``createStream``, ``publish``, ``FCUnpublish``,
``deleteStream`` -- then audio and video messages, handed to the studio
(rooms/rtmpstudio.py).

Who may publish is the application's business (:class:`Gate`): the server hands it the path
the encoder asked for, ``{app}/{stream name}`` (e.g. ``live/wuhan-0510/beijing?token=...``, or
``live`` with the join token as the stream key). The gate looks at it at ``connect`` (when the
token is already in the URL) and again at ``publish``; a refusal (:class:`Refused`) is answered
with the command's error status and the connection closed, before any media is read.

A codec we cannot use (anything but H.264/AVC video and AAC audio: :func:`rooms.flvcodecs.codec_problem`)
is refused at its first tag with ``onStatus NetStream.Publish.Rejected`` and the reason, then the
connection is closed: the encoder's push fails instead of going into a studio that never comes online.

Bad input (not RTMP: checked on the very first byte, a chunk size or message over our bounds,
AMF0 we cannot read, AMF3, an unknown command, media before ``publish``, silence for ``timeout``
seconds) closes that connection with one log line; the server and the other connections go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import Any, Protocol

from mixer.outputs import amf0
from mixer.outputs.rtmpchunks import (
    ACK,
    AUDIO,
    COMMAND_AMF0,
    COMMAND_AMF3,
    DATA_AMF0,
    DATA_AMF3,
    HANDSHAKE_SIZE,
    SET_CHUNK_SIZE,
    SET_PEER_BANDWIDTH,
    USER_CONTROL,
    VERSION,
    VIDEO,
    WINDOW_ACK_SIZE,
    ChunkError,
    ChunkReader,
    Message,
    control,
    encode_message,
    handshake_s0s1s2,
    peer_bandwidth,
    stream_begin,
)
from rooms.flvcodecs import codec_problem
from rooms.rtmpstudio import RtmpStudio

log = logging.getLogger(__name__)

OUT_CHUNK_SIZE = 4096
WINDOW = 2_500_000  # our acknowledgement window (what nginx-rtmp and FFmpeg announce)
STREAM_ID = 1.0  # the one message stream a publisher gets
IGNORED_COMMANDS = frozenset({"releaseStream", "FCPublish", "_checkbw", "getStreamLength", "onBWDone"})
END_COMMANDS = frozenset({"FCUnpublish", "deleteStream", "closeStream"})


class Refused(Exception):
    """The gate refuses the publish; the message goes to the encoder and the log."""


class ProtocolError(Exception):
    """The peer does not speak the RTMP we serve; the connection ends."""


class Gate(Protocol):
    def check(self, path: str) -> None:
        """Raise Refused if ``path`` (``{app}/{stream name}``) cannot publish; at connect and publish."""

    async def open(self, path: str, peer: str) -> RtmpStudio:
        """The studio ``path`` publishes to, in its place in the show; raises Refused."""


class RtmpServer:
    def __init__(self, host: str, port: int, gate: Gate, *, timeout: float = 10.0) -> None:
        self.host, self.port = host, port
        self.gate = gate
        self.timeout = timeout  # handshake and commands; then the longest silence of a publisher
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("RTMP ingest listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(set(self._connections), timeout=10)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        host, port = writer.get_extra_info("peername", ("?", "?"))[:2]
        peer = f"{host}:{port}"
        connection = _Connection(self, reader, writer, peer)
        try:
            await connection.run()
        except (ChunkError, amf0.AmfError, ProtocolError, Refused) as exc:
            log.warning("RTMP ingest %s%s: closed: %s", peer, connection.label, exc)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError) as exc:
            log.info("RTMP ingest %s%s: ended: %s", peer, connection.label, type(exc).__name__)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("RTMP ingest %s%s: unexpected error", peer, connection.label)
        finally:
            self._connections.discard(task)
            await connection.close()


class _Connection:
    def __init__(self, server: RtmpServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str):
        self.server, self.reader, self.writer, self.peer = server, reader, writer, peer
        self.chunks = ChunkReader()
        self.app = ""
        self.studio: RtmpStudio | None = None
        self.peer_window = 0  # the publisher's acknowledgement window (0: it asked for none)
        self.acked = 0

    @property
    def label(self) -> str:
        return f" ({self.studio.show_id}/{self.studio.studio_id})" if self.studio is not None else ""

    async def _read(self, n: int) -> bytes:
        return await asyncio.wait_for(self.reader.readexactly(n), self.server.timeout)

    async def run(self) -> None:
        c0 = await self._read(1)  # checked alone: an HTTP request or a port scan is shut out at once
        if c0[0] != VERSION:
            raise ProtocolError(f"not RTMP (version byte {c0[0]}, {c0!r})")
        c1 = await self._read(HANDSHAKE_SIZE)
        self.writer.write(handshake_s0s1s2(c1))
        await self.writer.drain()
        await self._read(HANDSHAKE_SIZE)  # C2: the echo of S1 (not checked: the simple handshake)
        while True:
            data = await asyncio.wait_for(self.reader.read(65536), self.server.timeout)
            if not data:
                return
            for message in self.chunks.feed(data):
                if not await self._handle(message):
                    return
            await self._acknowledge()

    async def close(self) -> None:
        if self.studio is not None:
            await self.studio.close()
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 2)

    async def _acknowledge(self) -> None:
        if self.peer_window and self.chunks.bytes_in - self.acked >= self.peer_window:
            self.acked = self.chunks.bytes_in
            self.writer.write(control(ACK, self.acked & 0xFFFFFFFF))
            await self.writer.drain()

    def _send(self, csid: int, stream_id: int, type_id: int, payload: bytes) -> None:
        self.writer.write(encode_message(csid, Message(type_id, stream_id, 0, payload), OUT_CHUNK_SIZE))

    def _command(self, stream_id: int, *values: Any) -> None:
        self._send(3, stream_id, COMMAND_AMF0, amf0.encode(*values))

    def _status(self, level: str, code: str, description: str) -> None:
        info = {"level": level, "code": code, "description": description}
        self._command(int(STREAM_ID), "onStatus", 0, None, info)

    async def _handle(self, message: Message) -> bool:
        """One message; False when the publisher ends the stream."""
        kind = message.type_id
        if kind in (AUDIO, VIDEO):
            if self.studio is None:
                raise ProtocolError("media before publish")
            if self.studio.state == "closed":  # kicked, replaced by a new join, or the show left this node
                raise Refused("the studio's session was ended by the server")
            problem = codec_problem(kind, message.payload)
            if problem:  # the encoder hears why (its log shows the status), then the connection ends
                self._status("error", "NetStream.Publish.Rejected", problem)
                await self.writer.drain()
                raise Refused(problem)
            self.studio.put(kind, message.payload, message.timestamp)
            return True
        if kind == COMMAND_AMF0:
            return await self._on_command(amf0.decode(message.payload))
        if kind == WINDOW_ACK_SIZE and len(message.payload) >= 4:
            self.peer_window = struct.unpack(">I", message.payload[:4])[0]
            return True
        if kind == DATA_AMF0:
            with contextlib.suppress(amf0.AmfError):  # metadata is a hint: one we cannot read is no reason to end
                self._on_metadata(amf0.decode(message.payload))
            return True
        if kind in (ACK, USER_CONTROL, SET_PEER_BANDWIDTH):
            return True  # flow control
        if kind in (COMMAND_AMF3, DATA_AMF3):
            raise ProtocolError("AMF3 messages are not supported")
        raise ProtocolError(f"unexpected message type {kind}")

    async def _on_command(self, values: list[Any]) -> bool:
        if len(values) < 2 or not isinstance(values[0], str):
            raise ProtocolError("command without a name")
        name, txn = values[0], values[1]
        if name == "connect":
            props = values[2] if len(values) > 2 and isinstance(values[2], dict) else {}
            self.app = str(props.get("app") or "").strip("/")
            tc_url = str(props.get("tcUrl") or "")
            if "token=" in self.app or "token=" in tc_url:  # the token came with the URL: refuse now
                path = self.app if "token=" in self.app else tc_url.split("://", 1)[-1].split("/", 1)[-1]
                try:
                    self.server.gate.check(path)
                except Refused as exc:
                    self._command(0, "_error", txn, None, self._rejected(str(exc)))
                    await self.writer.drain()
                    raise
            self.writer.write(control(WINDOW_ACK_SIZE, WINDOW) + peer_bandwidth(WINDOW))
            self.writer.write(control(SET_CHUNK_SIZE, OUT_CHUNK_SIZE))
            self._command(
                0,
                "_result",
                txn,
                {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0},
                {"level": "status", "code": "NetConnection.Connect.Success", "description": "Connected.",
                 "objectEncoding": 0.0},
            )  # fmt: skip
        elif name == "createStream":
            self._command(0, "_result", txn, None, STREAM_ID)
        elif name == "publish":
            if self.studio is not None:
                raise ProtocolError("a second publish on one connection")
            stream = str(values[3]) if len(values) > 3 and values[3] is not None else ""
            path = f"{self.app}/{stream}" if stream else self.app
            try:
                self.studio = await self.server.gate.open(path, self.peer)
            except Refused as exc:
                self._status("error", "NetStream.Publish.BadName", str(exc))
                await self.writer.drain()
                raise
            self.writer.write(stream_begin(int(STREAM_ID)))
            self._status("status", "NetStream.Publish.Start", f"{self.studio.studio_id} is publishing")
            log.info("RTMP ingest %s: publishing to %s/%s", self.peer, self.studio.show_id, self.studio.studio_id)
        elif name in END_COMMANDS:
            return self.studio is None  # before publish: housekeeping; after it: the stream ends
        elif name not in IGNORED_COMMANDS:
            raise ProtocolError(f"unknown command {name[:40]!r}")
        await self.writer.drain()
        return True

    def _on_metadata(self, values: list[Any]) -> None:
        """``@setDataFrame onMetaData {...}``: an audio codec and no video codec makes the studio
        audio only at once (the decoder reads the streams themselves; the rest is not used)."""
        meta = next((v for v in values if isinstance(v, dict)), None)
        if self.studio is None or meta is None or "onMetaData" not in values:
            return
        if meta.get("audiocodecid") is not None and not meta.get("videocodecid"):
            self.studio.decide_audio_only()

    @staticmethod
    def _rejected(description: str) -> dict[str, Any]:
        return {"level": "error", "code": "NetConnection.Connect.Rejected", "description": description}
