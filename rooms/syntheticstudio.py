"""A synthetic studio: a test picture and a tone published over WHIP, like a remote room would.

The picture is :class:`rooms.testpattern.TestPattern`, the tone :class:`rooms.testtone.Tone`;
this module publishes them, as a process of its own (:func:`spawn_studio`, the command line).

Used by ``broadcast demo``, by the benchmark and by end-to-end tests. It publishes through
FFmpeg's ``whip`` muxer (PyAV), so the server is exercised by a real, independent WebRTC stack.

Facts about the ``whip`` muxer (FFmpeg 8.1) this module relies on:

- options: ``authorization`` (Bearer token, also sent on the DELETE), ``cert_file``/``key_file``
  (DTLS identity; the built-in secp224r1 one is refused by aiortc), ``handshake_timeout`` (ms,
  ICE + DTLS, default 5000), ``pkt_size`` (default 1200), ``rtp_history``, ``whip_flags``;
- the POST, ICE and DTLS all happen inside ``avformat_write_header`` (PyAV: the first ``mux`` or
  ``start_encoding``), about 1.1 s on loopback, holding the GIL;
- it needs H.264 with extradata (global header: it reads profile/level from the SPS and
  re-inserts SPS/PPS before every IDR), no B-frames, and Opus 48 kHz stereo;
- it uses only the first UDP host candidate of the answer;
- it sends every packet immediately: pacing is the caller's job;
- closing the container (``av_write_trailer`` + deinit) sends the WHIP DELETE; after the server
  has closed DTLS, that close blocks forever on a UDP read (see ``SyntheticStudio._close``).

Because the handshake holds the GIL, a studio cannot publish to an aiortc server running in the
same Python process (the server could never answer the POST): use :func:`spawn_studio`.
"""

from __future__ import annotations

import argparse
import errno
import fractions
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import av.error

from rooms.dtlscert import write_p256_certificate
from rooms.testpattern import PATTERN_BARS, SOLID_COLOURS, TestPattern
from rooms.testtone import AUDIO_RATE, AUDIO_SAMPLES, Tone

RETRY_INTERVAL_S = 2.0
CLOSE_TIMEOUT_S = 5  # whole seconds (alarm): the DELETE round trip plus DTLS close, normally < 50 ms


class PublishError(RuntimeError):
    """Publishing failed in a way worth one readable line (refused, unreachable, dropped)."""


def _describe(exc: BaseException) -> str:
    # av errors carry the full SDP offer in their log tuple; keep only the readable reason.
    if isinstance(exc, av.error.FFmpegError):
        return exc.strerror or type(exc).__name__
    return str(exc) or type(exc).__name__


def _socket_fds() -> set[int]:
    """File descriptors of this process that are sockets (Linux /proc; empty elsewhere)."""
    fds: set[int] = set()
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return fds
    for name in names:
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                fds.add(int(name))
        except (OSError, ValueError):
            continue
    return fds


def _detach_udp_sockets(fds: set[int]) -> None:
    """Point the UDP sockets among ``fds`` at /dev/null: every later recv/send on them fails at once.

    (shutdown(SHUT_RD) is not enough: on a non-blocking UDP socket recv then returns EAGAIN,
    which FFmpeg retries forever.) The fd numbers stay valid, so FFmpeg closes them as usual.
    """
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in fds:
            try:
                with socket.socket(fileno=os.dup(fd)) as sock:  # a dup: closing it leaves fd alone
                    is_udp = sock.type == socket.SOCK_DGRAM
            except OSError:
                continue
            if is_udp:
                os.dup2(null, fd, inheritable=False)
    finally:
        os.close(null)


@contextmanager
def _hard_deadline(seconds: int) -> Iterator[None]:
    """Last resort for a C call that holds the GIL and never returns: SIGALRM's default action ends
    the process. Only for a process of our own (main thread); ``seconds=0`` disables it."""
    if seconds <= 0:
        yield
        return
    previous = signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _immediate_signals(enabled: bool) -> Iterator[None]:
    """Inside a blocking muxer call (GIL held, no Python handler can run) die at once on a signal."""
    if not enabled:
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_DFL) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


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
        container = av.open(
            self.whip_url,
            "w",
            format="whip",
            # container_options (not options): PyAV would also hand `options` to the encoders.
            container_options={"authorization": self.token, "cert_file": str(cert), "key_file": str(key)},
        )
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
            raise PublishError(f"cannot set up the WHIP muxer for {self.whip_url}: {_describe(exc)}") from exc
        whip_sockets: set[int] = set()
        try:
            started = time.monotonic()
            before = _socket_fds()
            try:
                with _immediate_signals(handle_signals):
                    container.start_encoding()  # POST offer, ICE, DTLS: blocks ~1 s
            except av.error.HTTPClientError as exc:
                raise PublishError(f"WHIP server {self.whip_url} refused: {_describe(exc)}") from exc
            except (av.error.FFmpegError, OSError) as exc:
                raise PublishError(f"cannot publish to {self.whip_url}: {_describe(exc)}") from exc
            # The muxer's UDP socket is the one that appeared during the handshake (GIL held: no
            # other Python thread could open one meanwhile).
            whip_sockets = _socket_fds() - before
            on_air = time.monotonic()
            self._say(f"on air at {self.whip_url} (set-up {on_air - started:.2f} s)")
            if self.duration is not None and self._deadline is None:
                self._deadline = on_air + self.duration
            try:
                self._stream(container, video, audio, renderer, tone, self._deadline, parent)
            except (av.error.FFmpegError, OSError) as exc:
                raise PublishError(f"connection to {self.whip_url} lost: {_describe(exc)}") from exc
        finally:
            self._close(container, whip_sockets, handle_signals)

    def _close(self, container: Any, whip_sockets: set[int], handle_signals: bool) -> None:
        """Close the container (trailer; the muxer's deinit sends the WHIP DELETE), never hanging.

        FFmpeg 8.1's whip muxer, once the server has closed DTLS (it ended the session), reads
        its UDP socket in blocking mode during the trailer, with no timeout and the GIL held:
        close() never returns. The media is over when we close, so we first detach that socket;
        the DELETE goes over its own TCP connection and is unaffected.
        """
        _detach_udp_sockets(whip_sockets)
        with _immediate_signals(handle_signals), _hard_deadline(CLOSE_TIMEOUT_S if handle_signals else 0):
            try:
                container.close()
            except (av.error.FFmpegError, OSError) as exc:
                if exc.errno != errno.ENOTSOCK:  # ENOTSOCK: the detached socket, expected
                    self._say(f"close: {_describe(exc)}")

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
        return cmd


def spawn_studio(
    whip_url: str,
    token: str,
    label: str,
    *,
    tone_hz: float = 440.0,
    pattern: str = PATTERN_BARS,
    width: int = 1280,
    height: int = 720,
    fps: int = 30,
    duration: float | None = None,
    retry: bool = False,
    bitrate: int = 2_500_000,
    threads: int = 1,
    preset: str = "veryfast",
    profile: str = "baseline",
    exit_with_parent: bool = True,
    verbose: bool = True,
    **popen_kwargs: Any,
) -> subprocess.Popen[bytes]:
    """Start a studio in its own process (its CPU is then not counted in the server).

    Stop it with ``proc.terminate()`` (SIGTERM: clean WHIP DELETE) and ``proc.wait()``.
    ``exit_with_parent`` makes it stop by itself if the spawning process dies.
    Extra keyword arguments go to :class:`subprocess.Popen` (e.g. ``stderr=subprocess.PIPE``).
    """
    studio = SyntheticStudio(
        whip_url=whip_url,
        token=token,
        label=label,
        tone_hz=tone_hz,
        pattern=pattern,
        width=width,
        height=height,
        fps=fps,
        duration=duration,
        retry=retry,
        bitrate=bitrate,
        threads=threads,
        preset=preset,
        profile=profile,
        exit_with_parent=exit_with_parent,
        verbose=verbose,
    )
    # Make `rooms` importable whatever the caller's working directory is.
    repo_root = str(Path(__file__).resolve().parent.parent)
    env = dict(popen_kwargs.pop("env", None) or os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo_root, env.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(studio.command(), env=env, **popen_kwargs)


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1280x720, got {text!r}") from None
    if w <= 0 or h <= 0 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"size must be positive and even, got {text!r}")
    return w, h


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rooms.syntheticstudio",
        description="Publish a synthetic studio (test picture + tone) to a WHIP endpoint.",
    )
    parser.add_argument("--whip-url", required=True, help="e.g. http://127.0.0.1:8080/whip/SHOW/STUDIO")
    parser.add_argument("--token", required=True, help="Bearer token sent in the Authorization header")
    parser.add_argument("--label", default="studio", help="text drawn on the bars pattern (any script)")
    parser.add_argument("--tone", type=float, default=440.0, help="sine frequency in Hz")
    parser.add_argument(
        "--pattern",
        default=PATTERN_BARS,
        choices=[PATTERN_BARS, *SOLID_COLOURS],
        help="moving bars with label and clock, or a solid colour",
    )
    parser.add_argument("--size", type=_parse_size, default=(1280, 720), help="WIDTHxHEIGHT")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--duration", type=float, default=None, help="seconds on air; default: until SIGTERM")
    parser.add_argument("--retry", action="store_true", help="keep retrying every 2 s if refused/unreachable")
    parser.add_argument("--bitrate", type=int, default=2_500_000, help="video bits per second")
    parser.add_argument("--audio-bitrate", type=int, default=64_000, help="Opus bits per second")
    parser.add_argument("--threads", type=int, default=1, help="x264 threads")
    parser.add_argument("--preset", default="veryfast", help="x264 preset")
    parser.add_argument("--profile", default="baseline", choices=["baseline", "main", "high"], help="H.264 profile")
    parser.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process dies")
    parser.add_argument("--quiet", action="store_true", help="no status lines on stderr")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> SyntheticStudio:
    """The studio described by a command line (the inverse of :meth:`SyntheticStudio.command`)."""
    args = build_parser().parse_args(argv)
    width, height = args.size
    return SyntheticStudio(
        whip_url=args.whip_url,
        token=args.token,
        label=args.label,
        tone_hz=args.tone,
        width=width,
        height=height,
        fps=args.fps,
        pattern=args.pattern,
        duration=args.duration,
        retry=args.retry,
        bitrate=args.bitrate,
        audio_bitrate=args.audio_bitrate,
        threads=args.threads,
        preset=args.preset,
        profile=args.profile,
        exit_with_parent=args.exit_with_parent,
        verbose=not args.quiet,
    )


def main(argv: Sequence[str] | None = None) -> int:
    studio = parse_args(argv)
    try:
        studio.run()
    except PublishError as exc:
        print(f"synthetic studio {studio.label!r}: {exc}", file=sys.stderr, flush=True)
        return 1
    except ValueError as exc:  # e.g. a size the encoder refuses
        print(f"synthetic studio {studio.label!r}: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
