"""A synthetic studio: a test picture and a tone published over WHIP, like a remote room would.

The picture is :class:`rooms.testpattern.TestPattern`, the tone :class:`rooms.testtone.Tone`,
published through FFmpeg's ``whip`` muxer (rooms/syntheticstudio/whipmuxer.py), paced here
in real time. Because the muxer's handshake holds the GIL, a studio cannot publish to an
aiortc server running in the same Python process: it runs as a process of its own
(rooms/syntheticstudio/commandline.py).
"""

from __future__ import annotations

import fractions
import math
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import av.error

from rooms.dtlscert import write_p256_certificate
from rooms.syntheticstudio.whipmuxer import close_container, describe, immediate_signals, socket_fds
from rooms.testpattern import PATTERN_BARS, TestPattern
from rooms.testtone import AUDIO_RATE, AUDIO_SAMPLES, Tone

RETRY_INTERVAL_S = 2.0


class PublishError(RuntimeError):
    """Publishing failed in a way worth one readable line (refused, unreachable, dropped)."""


@dataclass
class SyntheticStudio:
    """Configuration and runner of one synthetic studio publisher."""

    whip_url: str
    token: str
    label: str = "studio"
    tone_hz: float = 440.0
    width: int = 1280
    height: int = 720
    fps: int = 30
    pattern: str = PATTERN_BARS
    duration: float | None = None
    retry: bool = False
    bitrate: int = 2_500_000
    audio_bitrate: int = 64_000
    threads: int = 1
    preset: str = "veryfast"
    profile: str = "baseline"  # x264 profile: baseline, main or high (never B-frames: the muxer refuses them)
    exit_with_parent: bool = False
    # False: the muxer's own DTLS identity (secp224r1, FFmpeg 8.1), as a user who passes no
    # cert_file/key_file publishes; the server refuses it (rooms/compat/aiortcdtls.py).
    own_certificate: bool = True
    verbose: bool = True
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False, compare=False)
    # Set when first on air: `duration` counts seconds published, not connection attempts.
    _deadline: float | None = field(default=None, init=False, repr=False, compare=False)

    # -- control -------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask :meth:`run` to finish: it closes the container (WHIP DELETE) and returns."""
        self._stop.set()

    def _orphaned(self, parent: int) -> bool:
        # A spawned studio must not outlive a crashed demo/benchmark and publish forever.
        if self.exit_with_parent and os.getppid() != parent:
            self._say("parent process gone; stopping")
            return True
        return False

    def _say(self, message: str) -> None:
        if self.verbose:
            print(f"synthetic studio {self.label!r}: {message}", file=sys.stderr, flush=True)

    def run(self) -> None:
        """Publish until ``duration`` elapses or :meth:`stop` (or SIGTERM/SIGINT) is received.

        Raises :class:`PublishError` when the server refuses or cannot be reached (after
        the first failure, or never when ``retry`` is set). Must not share its process with the
        WHIP server (see the module docstring); signal handlers are installed only when called
        from the main thread.
        """
        in_main = threading.current_thread() is threading.main_thread()
        saved: dict[signal.Signals, Any] = {}
        if in_main:
            for sig in (signal.SIGTERM, signal.SIGINT):
                saved[sig] = signal.signal(sig, lambda *_: self.stop())
        try:
            with tempfile.TemporaryDirectory(prefix="synthstudio-") as tmp:
                cert, key = write_p256_certificate(Path(tmp))
                self._deadline = None
                parent = os.getppid()
                while not self._stop.is_set():
                    try:
                        self._publish(cert, key, parent, handle_signals=in_main)
                        return
                    except PublishError as exc:
                        if not self.retry:
                            raise
                        self._say(f"{exc}; retrying in {RETRY_INTERVAL_S:g} s")
                    if self._deadline is not None and time.monotonic() >= self._deadline:
                        return
                    if self._stop.wait(RETRY_INTERVAL_S) or self._orphaned(parent):
                        return
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)

    # -- one WHIP session ----------------------------------------------------------------------------
    def _open(self, cert: Path, key: Path) -> tuple[Any, Any, Any]:
        options = {"authorization": self.token}
        if self.own_certificate:
            options |= {"cert_file": str(cert), "key_file": str(key)}
        # container_options (not options): PyAV would also hand `options` to the encoders.
        container = av.open(self.whip_url, "w", format="whip", container_options=options)
        video = container.add_stream("libx264", rate=self.fps)
        video.width = self.width
        video.height = self.height
        video.pix_fmt = "yuv420p"
        video.bit_rate = self.bitrate
        video.gop_size = self.fps  # a keyframe every second: late joiners and PLI-less peers recover fast
        ctx = video.codec_context
        # Encoder clock in frames; the muxer retimes the stream itself (1/90000 after the header).
        ctx.time_base = fractions.Fraction(1, self.fps)
        ctx.max_b_frames = 0
        ctx.thread_count = self.threads  # explicit: x264's auto (1.5 x cores) wastes CPU on a shared box
        video.options = {
            "preset": self.preset,
            "tune": "zerolatency",
            "profile": self.profile,
            # Fixed 1 s GOP, no scene-cut keyframes, VBV so the bitrate stays near the target.
            "x264-params": f"keyint={self.fps}:min-keyint={self.fps}:scenecut=0:bframes=0",
            "maxrate": str(self.bitrate),
            "bufsize": str(self.bitrate // 2),
        }
        audio = container.add_stream("libopus", rate=AUDIO_RATE, layout="stereo")
        audio.bit_rate = self.audio_bitrate
        return container, video, audio

    def _publish(self, cert: Path, key: Path, parent: int, handle_signals: bool) -> None:
        renderer = TestPattern(self.pattern, self.label, self.width, self.height, self.fps)
        tone = Tone(self.tone_hz)
        try:
            container, video, audio = self._open(cert, key)
        except av.error.FFmpegError as exc:
            raise PublishError(f"cannot set up the WHIP muxer for {self.whip_url}: {describe(exc)}") from exc
        whip_sockets: set[int] = set()
        try:
            started = time.monotonic()
            before = socket_fds()
            try:
                with immediate_signals(handle_signals):
                    container.start_encoding()  # POST offer, ICE, DTLS: blocks ~1 s
            except av.error.HTTPClientError as exc:
                raise PublishError(f"WHIP server {self.whip_url} refused: {describe(exc)}") from exc
            except (av.error.FFmpegError, OSError) as exc:
                raise PublishError(f"cannot publish to {self.whip_url}: {describe(exc)}") from exc
            # The muxer's UDP socket is the one that appeared during the handshake (GIL held: no
            # other Python thread could open one meanwhile).
            whip_sockets = socket_fds() - before
            on_air = time.monotonic()
            self._say(f"on air at {self.whip_url} (set-up {on_air - started:.2f} s)")
            if self.duration is not None and self._deadline is None:
                self._deadline = on_air + self.duration
            try:
                self._stream(container, video, audio, renderer, tone, self._deadline, parent)
            except (av.error.FFmpegError, OSError) as exc:
                raise PublishError(f"connection to {self.whip_url} lost: {describe(exc)}") from exc
        finally:
            close_container(container, whip_sockets, handle_signals, self._say)

    def _stream(
        self,
        container: Any,
        video: Any,
        audio: Any,
        renderer: TestPattern,
        tone: Tone,
        deadline: float | None,
        parent: int,
    ) -> None:
        """Send frames at their real-time due instants (the muxer does not pace)."""
        t0 = time.monotonic()
        wall0 = time.time()
        video_period = 1.0 / self.fps
        audio_period = AUDIO_SAMPLES / AUDIO_RATE
        video_time_base = fractions.Fraction(1, self.fps)
        vi = ai = 0
        next_parent_check = t0 + 1.0
        while True:
            v_due = t0 + vi * video_period
            a_due = t0 + ai * audio_period
            due = min(v_due, a_due)
            if deadline is not None and due >= deadline:
                break
            wait = due - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                break
            if self._stop.is_set():
                break
            now = time.monotonic()
            if now - due > 0.5:
                # Starved for CPU: skip ahead instead of bursting, timestamps keep tracking real time.
                vi = max(vi, math.ceil((now - t0) / video_period))
                ai = max(ai, math.ceil((now - t0) / audio_period))
                continue
            if a_due <= v_due:
                container.mux(audio.encode(tone.frame(ai)))
                ai += 1
            else:
                frame = renderer.frame(vi, wall0 + vi * video_period)
                frame.pts = vi
                frame.time_base = video_time_base
                container.mux(video.encode(frame))
                vi += 1
            if now >= next_parent_check:
                next_parent_check = now + 1.0
                if self._orphaned(parent):
                    break

    # -- as a separate process -----------------------------------------------------------------------
    def command(self, python: str = sys.executable) -> list[str]:
        """The command line that runs this studio as ``python -m rooms.syntheticstudio``."""
        cmd = [
            python, "-m", "rooms.syntheticstudio",
            # --opt=value: a token or label may begin with "-" (base64url tokens do).
            f"--whip-url={self.whip_url}",
            f"--token={self.token}",
            f"--label={self.label}",
            "--tone", repr(float(self.tone_hz)),
            "--pattern", self.pattern,
            "--size", f"{self.width}x{self.height}",
            "--fps", str(self.fps),
            "--bitrate", str(self.bitrate),
            "--audio-bitrate", str(self.audio_bitrate),
            "--threads", str(self.threads),
            "--preset", self.preset,
            "--profile", self.profile,
        ]  # fmt: skip
        if self.duration is not None:
            cmd += ["--duration", repr(float(self.duration))]
        if self.retry:
            cmd.append("--retry")
        if self.exit_with_parent:
            cmd.append("--exit-with-parent")
        if not self.verbose:
            cmd.append("--quiet")
        if not self.own_certificate:
            cmd.append("--muxer-certificate")
        return cmd
