"""RTMP push to one destination (a CDN ingest URL with its stream key), reconnecting with backoff.

Each destination is its own :class:`RtmpOutput`: its own worker thread and its
own bounded queue, so a destination that is down, slow or refusing never
touches the others, the other outputs or the program.  Our FLV writer
(:mod:`flvmuxer`, the one HTTP-FLV uses) makes the tags and our RTMP client
(:mod:`rtmppublish`) sends them: plain sockets with deadlines, so a server that
accepts TCP and never answers, or stops reading, is an error in this thread
after ``timeout`` seconds. (FFmpeg's ``rtmp://`` through PyAV connected while
holding the GIL with no timeout: such a server froze the whole process.)

States: ``connecting`` (waiting for a keyframe, TCP + RTMP handshake and
publish), ``live``, ``backoff`` (after an error, waiting 1 s, 2 s, 4 s ... 30 s
before the next attempt), ``stopped``. Timestamps start at 0 at the keyframe each connection opens on;
timed metadata goes out as ``onCuePoint`` data messages.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from urllib.parse import urlsplit

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.flvmuxer import FILE_HEADER, TAG_SCRIPT, FlvMuxer, amf0_cue_point
from mixer.outputs.packetqueue import PacketQueue
from mixer.outputs.ratemeter import RateMeter
from mixer.outputs.rtmppublish import RtmpPublish
from mixer.outputs.sink import Sink
from mixer.outputs.worker import join_worker, offer

log = logging.getLogger(__name__)


def flv_tags(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, timestamp ms, body) of each FLV tag in ``data`` (tags with their PreviousTagSize)."""
    out = []
    pos = 0
    while pos + 11 <= len(data):
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        ts = int.from_bytes(data[pos + 4 : pos + 7], "big") | (data[pos + 7] << 24)
        out.append((data[pos], ts, data[pos + 11 : pos + 11 + size]))
        pos += 11 + size + 4
    return out


NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SCHEMES = ("rtmp", "rtmps")
_STABLE_SECONDS = 10.0  # a connection live this long resets the backoff
TIMEOUT_S = 5.0  # each step of the set-up, and each write: a CDN ingest answers in well under a second


def check_rtmp_url(url: str) -> str | None:
    """Why ``url`` cannot be an RTMP push target, or None if it can."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme not in SCHEMES:
        return "must start with rtmp:// or rtmps://"
    if not parts.hostname:
        return "has no host"
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError as exc:
        return f"has a bad port: {exc}"
    path = [p for p in parts.path.split("/") if p]
    if len(path) < 2:
        return "needs an application and a stream key: rtmp://host/app/key"
    if any(c.isspace() for c in url):
        return "must not contain spaces"
    return None


def redact(url: str) -> str:
    """The URL without its secrets (stream key, password), for status, logs and metrics."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid URL)"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    segments = parts.path.split("/")
    if len(segments) > 2 and segments[-1]:
        segments[-1] = "****"
    return f"{parts.scheme}://{host}{'/'.join(segments)}"


class RtmpOutput(Sink):
    """One push destination; ``put`` never blocks, everything else happens in its thread."""

    audio_codec = "aac"
    accepts_data = True  # timed metadata: onCuePoint script tags (mixer/outputs/remux.py)

    def __init__(
        self,
        name: str,
        url: str,
        *,
        queue_size: int = 512,
        backoff_min: float = 1.0,
        backoff_max: float = 30.0,
    ) -> None:
        problem = check_rtmp_url(url)
        if problem is not None:
            raise ValueError(f"RTMP URL {problem}")
        self.name = name
        self.url = url
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self._queue = PacketQueue(queue_size, wake_at=8)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fmt: ProgramFormat | None = None
        self.meter = RateMeter()
        self.state = "connecting"
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.errors = 0
        self.connects = 0  # successful connections (the first and every reconnect)
        self.attempts = 0
        self.skipped_packets = 0
        self.live_since: float | None = None  # wall clock of the current connection
        self.next_attempt_at: float | None = None
        self.backoff = backoff_min
        self._last_write = 0.0
        self.created = time.time()

    # --- encoder thread ---------------------------------------------------------

    def start(self, fmt: ProgramFormat) -> None:
        if self._thread is not None:
            return
        self._fmt = fmt
        self._thread = threading.Thread(target=self._run, name=f"rtmp:{self.name}", daemon=True)
        self._thread.start()

    def put(self, packet: EncodedPacket) -> None:
        if self._thread is None or self._stop.is_set():
            return
        offer(self._queue, packet, 0.0, f"rtmp {self.name}")

    def close(self) -> None:
        """Stop pushing; returns within ~5 s even if the connection hangs."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._queue.close()
        join_worker(self._thread, 5, f"rtmp {self.name}")  # a write may hang; never wait longer
        self.state = "stopped"

    # --- worker thread ----------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self.state = "connecting"
            self.attempts += 1
            started = time.monotonic()
            try:
                self._session()
            except Exception as exc:
                if self._stop.is_set():
                    break
                self._record_error(exc)
            if self._stop.is_set():
                break
            if self.live_since is not None and time.monotonic() - started >= _STABLE_SECONDS:
                self.backoff = self.backoff_min
            self.live_since = None
            self.state = "backoff"
            self.next_attempt_at = time.time() + self.backoff
            self._stop.wait(self.backoff)
            self.next_attempt_at = None
            self.backoff = min(self.backoff * 2, self.backoff_max)
        self.state = "stopped"

    def _session(self) -> None:
        """One connection: from the next keyframe until an error or close()."""
        fmt = self._fmt
        assert fmt is not None
        self._queue.take_all(timeout=0)  # a backlog from before is stale: live means now
        muxer = FlvMuxer(fmt)
        publish: RtmpPublish | None = None
        origin = 0  # program ms of the keyframe this connection opened on
        try:
            while not self._stop.is_set():
                for packet, _ in self._queue.take_all(timeout=0.5):
                    if publish is None:
                        if packet.kind != "video" or not packet.keyframe:
                            self.skipped_packets += 1
                            continue
                        tags = muxer.mux(packet)  # the first keyframe makes the header too
                        publish = RtmpPublish(self.url, TIMEOUT_S)
                        publish.open()
                        assert muxer.header is not None
                        for tag_type, _, body in flv_tags(muxer.header[len(FILE_HEADER) :]):
                            publish.send(tag_type, 0, body)  # metadata and the two sequence headers
                        origin = tags[-1].timestamp
                    else:
                        tags = muxer.mux(packet)
                    written = 0
                    for tag in tags:
                        ts = tag.timestamp - origin
                        if ts < 0:
                            continue  # audio or a cue from before the opening keyframe
                        body = tag.data[11:-4]
                        if tag.data[0] == TAG_SCRIPT:  # a cue: its time on this connection's timeline
                            text = packet.data.decode()
                            body = amf0_cue_point(text, ts / 1000)
                        written += publish.send(tag.data[0], ts, body)
                    self._last_write = time.monotonic()
                    if self.live_since is None:
                        self._went_live()
                    self.meter.add(written, int(packet.kind == "video"))
        finally:
            if publish is not None:
                publish.close()

    def _went_live(self) -> None:
        self.live_since = time.time()
        self.connects += 1
        self.state = "live"
        self.meter.restart()
        log.info("rtmp %s: live to %s (connection %d)", self.name, redact(self.url), self.connects)

    def _record_error(self, exc: Exception) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}".replace(self.url, redact(self.url))
        self.last_error_at = time.time()
        log.warning("rtmp %s: %s (retry in %.1f s)", self.name, self.last_error, self.backoff)

    # --- any thread ---------------------------------------------------------------

    def status(self) -> dict[str, object]:
        live = self.state == "live" and self.live_since is not None
        return {
            "name": self.name,
            "kind": "rtmp",
            "url": redact(self.url),
            "state": self.state,
            "up": live,
            "uptime_s": round(time.time() - self.live_since, 1) if live and self.live_since else 0.0,
            "connects": self.connects,
            "attempts": self.attempts,
            "errors": self.errors,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "backoff_s": self.backoff if self.state == "backoff" else None,
            "next_attempt_at": self.next_attempt_at,
            "seconds_since_write": round(time.monotonic() - self._last_write, 1) if self._last_write else None,
            "queue_depth": len(self._queue),
            "dropped_packets": self._queue.dropped,
            "skipped_packets": self.skipped_packets,
            **self.meter.summary(),
        }
