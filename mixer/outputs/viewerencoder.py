"""A second shared video encode for WHEP viewers that cannot decode the program's H.264 High.

Firefox without OpenH264 offers VP8/VP9/AV1; aiortc and Safari-style offers
carry VP8 and Constrained Baseline.  For them the show runs ONE extra encode
per codec (never one per viewer), and only while such a viewer exists: the
WHEP output starts it with the first viewer of its codec and stops it with the
last one, as the program encoder does with Opus.

It re-encodes the program's own H.264 packets (decode 0.8 ms per 720p frame),
so it needs nothing from the program clock and consumes the packets'
``pts``/``time_base`` as given.  Threads: :meth:`put` runs in the program
encoder's thread and only queues (a bounded :class:`PacketQueue`: when full the
oldest packet goes, with the video that depends on it); the worker thread
decodes and encodes, and hands each packet to ``on_packet`` (in the worker
thread: the caller posts it to its event loop).

Keyframes: the first, and every viewer's request (PLI/FIR, a new viewer, one
that fell behind) through :meth:`request_keyframe`, at most one forced
keyframe per 500 ms, as for the program encode; the codec adds one at least
every 10 s.  Output timestamps are on the 90 kHz RTP clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from fractions import Fraction

import av

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.packetqueue import PacketQueue
from mixer.outputs.viewercodec import ViewerCodec, h264_level
from mixer.stagethread import StageThread

log = logging.getLogger(__name__)

RTP_CLOCK = Fraction(1, 90000)


def _vp8(fmt: ProgramFormat) -> av.VideoCodecContext:
    """libvpx VP8 in its real-time mode, constant bit rate (the settings aiortc's own VP8 encoder uses)."""
    ctx = av.CodecContext.create("libvpx", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.options = {
        "deadline": "realtime",
        "cpu-used": "12",  # 720p30 at ~0.2 core (8: ~0.3), see docs/BENCHMARKS.md
        "lag-in-frames": "0",
        "error-resilient": "1",  # a lost packet spoils one frame, not the probabilities of the next
        "bufsize": str(fmt.video_bitrate),  # 1 s of buffer
        "minrate": str(fmt.video_bitrate),  # minrate = maxrate = bit_rate: CBR
        "maxrate": str(fmt.video_bitrate),
        "undershoot-pct": "100",
        "overshoot-pct": "15",
        "static-thresh": "1",
    }
    # Up to the top quantizer: with 56 (aiortc's) a grainy picture overshot the rate by 40 %.
    ctx.qmin, ctx.qmax = 2, 63
    ctx.thread_count = 1  # two made libvpx take more CPU, not less, on the 2-core box
    return ctx


def _h264_cb(fmt: ProgramFormat) -> av.VideoCodecContext:
    """libx264 Constrained Baseline, in-band SPS/PPS on every keyframe (no global header)."""
    ctx = av.CodecContext.create("libx264", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    level = h264_level(fmt.width, fmt.height, fmt.fps)
    ctx.options = {
        "preset": "veryfast",
        "tune": "zerolatency",
        "profile": "baseline",  # x264's baseline is Constrained Baseline (constraint_set1_flag)
        "level": f"{level // 10}.{level % 10}",  # the level the answer names
        "sc_threshold": "0",
        "forced-idr": "1",
        "maxrate": str(fmt.video_bitrate),
        "bufsize": str(fmt.video_bitrate),
    }
    ctx.thread_count = 2  # sliced threads (zerolatency): one thread fell behind on a busy box
    return ctx


_FACTORIES: dict[ViewerCodec, Callable[[ProgramFormat], av.VideoCodecContext]] = {
    ViewerCodec.VP8: _vp8,
    ViewerCodec.H264_CB: _h264_cb,
}


class ViewerEncoder(StageThread):
    """The program re-encoded in ``codec`` for viewers; started and stopped by the WHEP output."""

    MIN_FORCED_KEY_GAP = 0.5  # seconds between a keyframe and a forced one (as the program encoder)
    MAX_KEY_GAP = 10  # seconds: the codec's own keyframe backstop
    QUEUE_SECONDS = 0.5

    def __init__(
        self,
        codec: ViewerCodec,
        fmt: ProgramFormat,
        on_packet: Callable[[EncodedPacket], None],
        request_source_keyframe: Callable[[], None],
        *,
        scale: bool = False,
        name: str = "whep",
    ) -> None:
        """``scale``: pictures are scaled to ``fmt``'s width x height (the hosts' small return
        picture, orchestrator/returnfeeds.py); otherwise they keep the program's size."""
        if codec not in _FACTORIES:
            raise ValueError(f"no second encode for {codec.value}")
        self.codec = codec
        self.fmt = fmt
        self._on_packet = on_packet
        self._request_source_keyframe = request_source_keyframe
        self._queue = PacketQueue(max(4, round(self.QUEUE_SECONDS * fmt.fps)))
        self._thread = threading.Thread(target=self._run, name=f"{name}-{codec.value}-encoder", daemon=True)
        self._name = name
        self._scaler = av.video.reformatter.VideoReformatter() if scale else None  # one per input, reused
        self._key_wanted = True
        self._last_key = -1e9  # monotonic time of the last keyframe
        self.started_at = time.time()
        self.frames_in = 0
        self.frames_encoded = 0
        self.keyframes = 0
        self.forced_keyframes = 0
        self.keyframe_requests = 0
        self.decode_errors = 0
        self.encode_errors = 0
        self.timeline_jumps = 0  # input timestamps that went back (the program encoder restarted)
        self._last_pts: int | None = None  # output, 90 kHz
        self._pts_offset = 0
        self.bytes_out = 0
        self.busy_seconds = 0.0  # wall time spent decoding and encoding

    # --- any thread ---------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._request_source_keyframe()  # the decoder starts on the program's next keyframe

    def put(self, packet: EncodedPacket) -> None:
        """A program video packet (program encoder thread): queued, never blocks."""
        if packet.kind == "video":
            self._queue.put(packet, time.monotonic())

    def request_keyframe(self) -> None:
        """Served at once, or 500 ms after the last keyframe."""
        self.keyframe_requests += 1
        self._key_wanted = True

    def stop(self) -> None:
        """Ends the worker (it frees its codecs as it goes); does not wait for it."""
        self._queue.close()

    # --- the worker ---------------------------------------------------------------

    def _run(self) -> None:
        decoder = av.CodecContext.create("h264", "r")
        assert isinstance(decoder, av.VideoCodecContext)
        decoder.thread_count = 1  # frame threads would delay every picture by a frame each
        encoder: av.VideoCodecContext | None = None
        synced = False  # the decoder has had a keyframe (SPS/PPS)
        try:
            while True:
                items = self._queue.take_all(timeout=1.0)
                if not items and self._queue.closed:
                    return
                t0 = time.perf_counter()
                for packet, _ in items:
                    if not synced and not packet.keyframe:
                        continue
                    synced = True
                    for frame in self._decode(decoder, packet):
                        try:
                            encoder = self._encode(encoder, frame)
                        except av.error.FFmpegError:
                            # One bad frame must not end the encode for every viewer: start afresh.
                            log.warning("%s %s encode failed; reopening", self._name, self.codec.value, exc_info=True)
                            self.encode_errors += 1
                            encoder = None
                self.busy_seconds += time.perf_counter() - t0
        except Exception:
            log.exception("%s %s encoder failed", self._name, self.codec.value)
        finally:
            self._queue.close()
            del decoder, encoder  # free the codecs now, from this thread

    def _decode(self, decoder: av.VideoCodecContext, packet: EncodedPacket) -> list[av.VideoFrame]:
        try:
            frames = decoder.decode(packet.to_av())
        except av.error.FFmpegError:
            self.decode_errors += 1
            self._request_source_keyframe()
            return []
        for frame in frames:
            frame.time_base = packet.time_base  # decoders pass the packet's pts through unchanged
        self.frames_in += len(frames)
        return frames

    def _encode(self, encoder: av.VideoCodecContext | None, frame: av.VideoFrame) -> av.VideoCodecContext:
        if self._scaler is not None:
            pts, time_base = frame.pts, frame.time_base
            frame = self._scaler.reformat(frame, width=self.fmt.width, height=self.fmt.height, format="yuv420p")
            frame.pts, frame.time_base = pts, time_base
        if encoder is None or (encoder.width, encoder.height) != (frame.width, frame.height):
            encoder = _FACTORIES[self.codec](self.fmt)
            encoder.width, encoder.height, encoder.pix_fmt = frame.width, frame.height, "yuv420p"
            encoder.time_base = RTP_CLOCK
            encoder.framerate = Fraction(self.fmt.fps)
            encoder.bit_rate = self.fmt.video_bitrate
            encoder.gop_size = self.MAX_KEY_GAP * self.fmt.fps
            encoder.open()
            self._key_wanted = True
        if frame.pts is None or frame.time_base is None:
            return encoder
        out = frame if frame.format.name == "yuv420p" else frame.reformat(format="yuv420p")
        out.pts = self._output_pts(frame.pts, frame.time_base)
        out.time_base = RTP_CLOCK
        out.duration = round(RTP_CLOCK.denominator / self.fmt.fps)  # libvpx's rate control counts in durations
        now = time.monotonic()
        # The decoder marks the program's keyframes I; encoders obey pict_type, so only ours count.
        if self._key_wanted and now - self._last_key >= self.MIN_FORCED_KEY_GAP:
            out.pict_type = av.video.frame.PictureType.I
            self._key_wanted = False
            self.forced_keyframes += 1
        else:
            out.pict_type = av.video.frame.PictureType.NONE
        for packet in encoder.encode(out):
            if packet.pts is None:
                continue
            packet.time_base = RTP_CLOCK
            encoded = EncodedPacket.from_av("video", packet)
            if encoded.keyframe:
                self.keyframes += 1
                self._last_key = now
            self.bytes_out += len(encoded.data)
            self._on_packet(encoded)
        self.frames_encoded += 1
        return encoder

    def _output_pts(self, pts: int, time_base: Fraction) -> int:
        """The input's time on the 90 kHz clock; if the input goes back in time (a new program
        timeline), ours carries on one frame later, since encoders and receivers need it increasing."""
        out = round(pts * time_base / RTP_CLOCK) + self._pts_offset
        if self._last_pts is not None and out <= self._last_pts:
            step = round(RTP_CLOCK.denominator / self.fmt.fps)
            self._pts_offset += self._last_pts + step - out
            out = self._last_pts + step
            self.timeline_jumps += 1
        self._last_pts = out
        return out

    # --- status ---------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        uptime = max(1e-6, time.time() - self.started_at)
        return {
            "codec": self.codec.value,
            "running": self.running,
            "frames_encoded": self.frames_encoded,
            "keyframes": self.keyframes,
            "forced_keyframes": self.forced_keyframes,
            "keyframe_requests": self.keyframe_requests,
            "dropped_packets": self._queue.dropped,
            "decode_errors": self.decode_errors,
            "encode_errors": self.encode_errors,
            "timeline_jumps": self.timeline_jumps,
            "bitrate_bps": round(self.bytes_out * 8 / uptime),
            "ms_per_frame": round(1000 * self.busy_seconds / max(1, self.frames_encoded), 2),
        }
