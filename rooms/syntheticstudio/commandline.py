"""A synthetic studio as a process of its own: its command line, and starting one.

``python -m rooms.syntheticstudio --whip-url=... --token=...`` (``--help`` for the rest) runs
:func:`main`; :func:`spawn_studio` starts that process (its CPU is then not counted in the
server, and the muxer's GIL-holding handshake cannot stall the server's loop);
:func:`parse_args` is the inverse of :meth:`SyntheticStudio.command`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rooms.syntheticstudio.studio import PublishError, SyntheticStudio
from rooms.testpattern import PATTERN_BARS, SOLID_COLOURS


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
    own_certificate: bool = True,
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
        own_certificate=own_certificate,
    )
    # Make `rooms` importable whatever the caller's working directory is.
    repo_root = str(Path(__file__).resolve().parents[2])
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
    parser.add_argument(
        "--muxer-certificate",
        action="store_true",
        help="publish with the muxer's own DTLS certificate (secp224r1) instead of a P-256 one: the server refuses it",
    )
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
        own_certificate=not args.muxer_certificate,
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
