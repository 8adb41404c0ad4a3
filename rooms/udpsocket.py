"""The ICE UDP sockets' receive buffers: how big they are, and what the kernel dropped at them.

Every studio's media arrives on one UDP socket (BUNDLE). While the event loop is busy
(a GIL-holding stage, a burst of control work) datagrams wait in the socket's kernel
buffer; when it is full the kernel drops them, and that loss happens inside our own
machine. aioice sizes each host candidate's socket when it binds it, from a module
value (256 KiB) that :func:`rooms.compat.use_receive_buffer` sets (tests/rooms/test_udpsocket.py
checks a real gathered socket). Linux doubles the value asked for (bookkeeping) and caps it at
``net.core.rmem_max`` (socket(7)); ``RECEIVE_BUFFER_BYTES`` asks for 4 MiB, this machine's
rmem_max, and the service logs one line at start-up when the kernel gives less
(set ``sysctl -w net.core.rmem_max=4194304``, as scripts/setup.sh says).

Measured (bench/rcvbuf.py, docs/BENCHMARKS.md): a 1200-byte datagram takes ~2.3 KB of
buffer on loopback, so the default 256 KiB (512 KiB granted) holds ~220 datagrams, 0.8 s
of a 2.5 Mbit/s studio (~300 datagrams/s with audio): a 1 s stall lost 566 of 4222; 4 MiB
(8 MiB granted) holds 3640, ~11 s, and lost none.

The datagrams the kernel dropped at a socket are its ``drops`` column in /proc/net/udp
(and udp6), found by the socket's inode: ``socket_drops``. Linux only; elsewhere 0.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterable
from pathlib import Path

from rooms.compat import use_receive_buffer

log = logging.getLogger(__name__)

RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
RMEM_MAX = Path("/proc/sys/net/core/rmem_max")
PROC_UDP = (Path("/proc/net/udp"), Path("/proc/net/udp6"))
DROPS_CACHE_S = 0.5  # one read of /proc/net/udp serves every session's stats sample


def size_receive_buffers(nbytes: int = RECEIVE_BUFFER_BYTES) -> int:
    """Make every ICE socket bound from now on ask for ``nbytes`` of receive buffer.

    Returns what the kernel grants a socket that asks (bytes, as getsockopt reports them:
    twice the usable size on Linux). Logs a warning when rmem_max caps it.
    """
    use_receive_buffer(nbytes)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, nbytes)
        granted = probe.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if granted < nbytes:
        limit = RMEM_MAX.read_text().strip() if RMEM_MAX.exists() else "?"
        log.warning(
            "UDP receive buffers: asked for %d bytes, the kernel grants %d (net.core.rmem_max = %s); "
            "a stalled moment may drop studio packets: sysctl -w net.core.rmem_max=%d",
            nbytes,
            granted,
            limit,
            nbytes,
        )
    return granted


def socket_inode(sock: socket.socket) -> int | None:
    try:
        return os.fstat(sock.fileno()).st_ino
    except (OSError, ValueError):  # closed
        return None


_drops: dict[int, int] = {}
_read_at = -DROPS_CACHE_S


def _read_drops() -> dict[int, int]:
    """inode -> datagrams dropped, for every UDP socket of the host (cached ``DROPS_CACHE_S``)."""
    global _drops, _read_at
    now = time.monotonic()
    if now - _read_at < DROPS_CACHE_S:
        return _drops
    drops: dict[int, int] = {}
    for path in PROC_UDP:
        try:
            lines = path.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) >= 13:
                drops[int(fields[9])] = int(fields[12])  # inode, drops (net/ipv4/udp.c udp4_format_sock)
    _drops, _read_at = drops, now
    return drops


def socket_drops(sockets: Iterable[socket.socket]) -> int:
    """Datagrams the kernel dropped at these sockets (receive buffer full), since they were bound."""
    drops = _read_drops()
    return sum(drops.get(inode, 0) for s in sockets if (inode := socket_inode(s)) is not None)
