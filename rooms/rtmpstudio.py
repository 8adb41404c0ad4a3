"""One studio publishing over RTMP: FLV audio/video payloads in, decoded frames to its FeedBuffer.

The same face to the show as a WHIP session (:class:`rooms.whipsession.WhipSession`): ``id``,
``studio_id``, ``client``, ``feed``, ``state``, ``stats()``, ``close()``, presence through
``on_presence`` (online at the first decoded picture, offline when the connection ends) and
``on_closed``. No tally: RTMP has no channel back to the encoder's operator.

Payloads (Adobe "Video File Format Specification" 10, E.4.2-E.4.3; RTMP audio/video messages
carry exactly an FLV tag's body):

- video: ``frame type << 4 | codec id`` (7 = AVC), ``AVCPacketType`` (0: the
  AVCDecoderConfigurationRecord, given to FFmpeg's decoder as extradata; 1: length-prefixed
  NAL units), a 24-bit composition time offset (ms).
- audio: ``format << 4 | rate, size, channels`` (10 = AAC), ``AACPacketType`` (0: the
  AudioSpecificConfig, extradata; 1: one raw AAC frame).

Anything else is refused at its first tag (:func:`rooms.flvcodecs.codec_problem`, checked by the
server before the payload reaches the studio): legacy video codec ids other than 7 (Sorenson H.263, VP6,
screen video, the unofficial 12 = HEVC), enhanced RTMP (``IsExHeader`` bit, the codec named by a
FourCC: ``hvc1``, ``av01``, ``vp09``), audio formats other than 10 (MP3, Speex, Nellymoser,
G.711, PCM...).

A push with AAC and no video is an audio-only studio, like a WHIP studio that sends no video:
when no video tag follows its first audio tag within ``AUDIO_ONLY_AFTER`` seconds (or at once
when its ``onMetaData`` names an audio codec and no video codec), ``on_audio_only`` puts it on
air as its studio card and it goes online. Video arriving later after all: ``audio_only`` turns
false and ``on_audio_only`` is called again (its pictures replace the card).

Decoding runs in one thread per studio behind a bounded queue; when the queue overflows the
oldest messages go and the video decoder skips to the next keyframe (a picture decoded from a
broken reference would be wrong, not late).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any

import av

from mixer.feedbuffer import FeedBuffer
from rooms.flvcodecs import codec_problem
from rooms.ingeststats import IngestStats

log = logging.getLogger(__name__)

QUEUE = 240  # messages (~4 s of 30 fps video with its audio): a decoder that falls further behind skips
MS = Fraction(1, 1000)
AUDIO_ONLY_AFTER = 2.0  # s from the first audio tag without video: FFmpeg and OBS interleave both within ~0.1 s


class RtmpStudio:
    """A studio's RTMP publish: :meth:`put` (event loop) hands FLV payloads to the decode thread."""

    client = "rtmp"  # one encoder per link; no second tab to tell apart
    tally = False  # no way back to the encoder: the control page says so

    def __init__(
        self,
        show_id: str,
        studio_id: str,
        feed: FeedBuffer,
        on_closed: Callable[[Any], Awaitable[None]],
        on_presence: Callable[[Any, bool], Awaitable[None]] | None = None,
        peer: str = "",
        on_audio_only: Callable[[Any], Awaitable[None]] | None = None,
    ) -> None:
        self.id = secrets.token_urlsafe(12)
        self.show_id, self.studio_id = show_id, studio_id
        self.feed = feed
        self.peer = peer
        self.created = time.time()
        self.client_stats: dict[str, float] = {}
        self.video_frames = 0
        self.audio_frames = 0
        self.resolution: tuple[int, int] | None = None
        self.bytes_in = 0
        self.skipped = 0  # messages dropped by the queue or while waiting for a keyframe
        self.errors = 0
        self.ingest = IngestStats()
        self._on_closed = on_closed
        self._on_presence = on_presence
        self._on_audio_only = on_audio_only
        self.audio_only = False  # decided once: AAC and no video (see the module's docstring)
        self._video_seen = False
        self._audio_timer: asyncio.TimerHandle | None = None
        self._online = False
        self._closed = False
        self._loop = asyncio.get_running_loop()
        self._queue: collections.deque[tuple[int, bytes, int]] = collections.deque()
        self._cond = threading.Condition()
        self._video: av.CodecContext | None = None
        self._audio: av.CodecContext | None = None
        self._need_keyframe = True
        self._last_media = time.monotonic()
        self._sampled = (time.monotonic(), 0, 0)  # for the rates in stats()
        self._presence_tasks: set[asyncio.Future[None]] = set()
        self._thread = threading.Thread(target=self._run, name=f"rtmp-in:{studio_id}", daemon=True)
        self._thread.start()

    @property
    def state(self) -> str:
        if self._closed:
            return "closed"
        if not self._online:
            return "connecting"
        return "stalled" if time.monotonic() - self._last_media > 1.0 else "connected"

    # -- event loop ----------------------------------------------------------------------
    def put(self, type_id: int, payload: bytes, timestamp: int) -> None:
        """One RTMP audio (8) or video (9) message; never blocks."""
        self.bytes_in += len(payload)
        self._last_media = time.monotonic()
        if type_id == 9:
            self._video_seen = True
            if self.audio_only:  # the encoder added video after all: its pictures replace the card
                self.audio_only = False
                self._run_task(self._on_audio_only(self) if self._on_audio_only is not None else None)
        elif not self._video_seen and self._audio_timer is None:
            self._audio_timer = self._loop.call_later(AUDIO_ONLY_AFTER, self.decide_audio_only)
        with self._cond:
            if len(self._queue) >= QUEUE:
                self._queue.popleft()
                self.skipped += 1
                self._need_keyframe = True
            self._queue.append((type_id, payload, timestamp))
            self._cond.notify()

    def decide_audio_only(self) -> None:
        """No video so far (timer after the first audio, or an onMetaData without a video codec):
        on air as the studio card from now on. Event loop; once."""
        if self._video_seen or self.audio_only or self._closed:
            return
        self.audio_only = True
        log.info("studio %s (RTMP): audio only (no video): on air as its studio card", self.studio_id)
        self._run_task(self._go_audio_only())

    def _run_task(self, coro: Awaitable[None] | None) -> None:
        if coro is None:
            return
        task = asyncio.ensure_future(coro)
        self._presence_tasks.add(task)
        task.add_done_callback(self._presence_tasks.discard)

    async def _go_audio_only(self) -> None:
        if self._on_audio_only is not None:
            await self._on_audio_only(self)
        if not self._closed:
            self._set_online(True)

    def _set_online(self, online: bool) -> None:
        if online == self._online or self._on_presence is None:
            self._online = online
            return
        self._online = online
        self._run_task(self._on_presence(self, online))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._audio_timer is not None:
            self._audio_timer.cancel()
        with self._cond:
            self._queue.clear()
            self._cond.notify()
        await asyncio.to_thread(self._thread.join, 5)
        self.feed.clear()
        if self._presence_tasks:
            await asyncio.wait(set(self._presence_tasks), timeout=5)
        await self._on_closed(self)

    # -- decode thread -----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                type_id, payload, timestamp = self._queue.popleft()
            try:
                if type_id == 9:
                    self._decode_video(payload, timestamp)
                else:
                    self._decode_audio(payload, timestamp)
            except (av.error.FFmpegError, ValueError, IndexError) as exc:
                self.errors += 1
                self._need_keyframe = True
                if self.errors <= 3 or self.errors % 100 == 0:
                    log.warning("studio %s (RTMP): undecodable %s: %s", self.studio_id, type_id, exc)

    def _decode_video(self, payload: bytes, timestamp: int) -> None:
        if len(payload) < 5:
            return
        problem = codec_problem(9, payload)  # the server refuses these first: a second line of defence
        if problem:
            raise ValueError(problem)
        keyframe, kind = payload[0] >> 4 == 1, payload[1]
        if kind == 0:  # a new AVCDecoderConfigurationRecord: (re)open the decoder with it
            self._video = av.CodecContext.create("h264", "r")
            self._video.extradata = payload[5:]
            self._need_keyframe = True
            return
        if kind != 1 or self._video is None:
            return
        if self._need_keyframe and not keyframe:
            self.skipped += 1
            return
        self._need_keyframe = False
        cts = int.from_bytes(payload[2:5], "big", signed=True)
        packet = av.Packet(payload[5:])
        packet.dts, packet.pts, packet.time_base = timestamp, timestamp + cts, MS
        for frame in self._video.decode(packet):  # type: ignore[attr-defined]
            self.video_frames += 1
            self.ingest.on_decoded_frame()
            self.resolution = (frame.width, frame.height)
            self.feed.push_video(frame)
            if not self._online:
                self._loop.call_soon_threadsafe(self._set_online, True)

    def _decode_audio(self, payload: bytes, timestamp: int) -> None:
        if len(payload) < 2:
            return
        problem = codec_problem(8, payload)
        if problem:
            raise ValueError(problem)
        if payload[1] == 0:
            self._audio = av.CodecContext.create("aac", "r")
            self._audio.extradata = payload[2:]
            return
        if self._audio is None:
            return
        packet = av.Packet(payload[2:])
        packet.pts, packet.time_base = timestamp, MS
        for frame in self._audio.decode(packet):  # type: ignore[attr-defined]
            self.audio_frames += 1
            self.feed.push_audio(frame)

    def set_decode_level(self, level: str) -> None:
        """Always decoded fully: RTMP has no keyframe request, so a studio in standby could not
        be brought back to full quickly enough for a cut (rooms/decodepolicy.py)."""

    def request_keyframe(self) -> None:
        """Nothing to do: RTMP has no keyframe request (the encoder's GOP decides)."""

    # -- any thread ---------------------------------------------------------------------
    def stats(self) -> dict[str, object]:
        now, frames, size = time.monotonic(), self.video_frames, self.bytes_in
        then, frames0, size0 = self._sampled
        if now - then >= 1.0:
            self.ingest.fps = round((frames - frames0) / (now - then), 1)
            self.ingest.bitrate_kbps = round((size - size0) * 8 / 1000 / (now - then), 1)
            self._sampled = (now, frames, size)
        self.ingest.codec = "H264"
        self.ingest.decoded_fps = self.ingest.fps
        return {
            "session": self.id,
            "transport": "rtmp",
            "tally": False,
            "state": self.state,
            "resolution": f"{self.resolution[0]}x{self.resolution[1]}" if self.resolution else None,
            "video_frames": self.video_frames,
            "audio_frames": self.audio_frames,
            "connected_s": round(time.time() - self.created, 1),
            **self.ingest.snapshot(),
            "skipped_messages": self.skipped,
            "decode_errors": self.errors,
            "rtt_ms": None,
        }
