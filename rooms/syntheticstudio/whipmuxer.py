"""FFmpeg's ``whip`` muxer (through PyAV), as a synthetic studio publishes with it.

Facts about the ``whip`` muxer (FFmpeg 8.1) this module relies on:

- options: ``authorization`` (Bearer token, also sent on the DELETE), ``cert_file``/``key_file``
  (DTLS identity; the built-in secp224r1 one cannot pass aiortc's OpenSSL 4.0, built without
  that curve for TLS: rooms/compat/aiortcdtls.py), ``handshake_timeout`` (ms,
  ICE + DTLS, default 5000), ``pkt_size`` (default 1200), ``rtp_history``, ``whip_flags``;
- the POST, ICE and DTLS all happen inside ``avformat_write_header`` (PyAV: the first ``mux`` or
  ``start_encoding``), about 1.1 s on loopback, holding the GIL;
- it needs H.264 with extradata (global header: it reads profile/level from the SPS and
  re-inserts SPS/PPS before every IDR), no B-frames, and Opus 48 kHz stereo;
- it uses only the first UDP host candidate of the answer;
- it sends every packet immediately: pacing is the caller's job;
- closing the container (``av_write_trailer`` + deinit) sends the WHIP DELETE; after the server
  has closed DTLS, that close blocks forever on a UDP read (see :func:`close_container`).

This module holds what taming it takes: a readable reason out of its errors, the socket it
opened during the handshake, and a close that never hangs.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import av
import av.error

CLOSE_TIMEOUT_S = 5  # whole seconds (alarm): the DELETE round trip plus DTLS close, normally < 50 ms


def describe(exc: BaseException) -> str:
    """One readable line for a muxer (or OS) error."""
    # av errors carry the full SDP offer in their log tuple; keep only the readable reason.
    if isinstance(exc, av.error.FFmpegError):
        return exc.strerror or type(exc).__name__
    return str(exc) or type(exc).__name__


def socket_fds() -> set[int]:
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


def detach_udp_sockets(fds: set[int]) -> None:
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
def immediate_signals(enabled: bool) -> Iterator[None]:
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


def close_container(container: Any, whip_sockets: set[int], handle_signals: bool, say: Callable[[str], None]) -> None:
    """Close the container (trailer; the muxer's deinit sends the WHIP DELETE), never hanging.

    FFmpeg 8.1's whip muxer, once the server has closed DTLS (it ended the session), reads
    its UDP socket in blocking mode during the trailer, with no timeout and the GIL held:
    close() never returns. The media is over when we close, so we first detach that socket
    (``whip_sockets``: :func:`socket_fds` new since the handshake); the DELETE goes over its
    own TCP connection and is unaffected. ``handle_signals``: this is the process's main thread
    (signals end it at once, and a hard deadline applies). A failed close is ``say``-ed.
    """
    detach_udp_sockets(whip_sockets)
    with immediate_signals(handle_signals), _hard_deadline(CLOSE_TIMEOUT_S if handle_signals else 0):
        try:
            container.close()
        except (av.error.FFmpegError, OSError) as exc:
            if exc.errno != errno.ENOTSOCK:  # ENOTSOCK: the detached socket, expected
                say(f"close: {describe(exc)}")
