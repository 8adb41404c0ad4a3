"""What the ICE sockets' receive buffer size changes: datagrams lost while the event loop stalls.

    PYTHONPATH=. python bench/rcvbuf.py

A sender process plays one 720p30 studio (2.5 Mbit/s: a 70-datagram keyframe each second,
9 datagrams per other frame, 1200 bytes each, sent in per-frame bursts) at a receiver that
reads on an asyncio event loop, the way aioice does. The receiver's loop is blocked now and
then (``STALLS``: like a GIL-holding stage or a busy moment of the control plane), and what
the kernel dropped is read from /proc/net/udp. Run for the buffer aioice asks for (256 KiB)
and the one we ask for (rooms/udpsocket.py). Also: how many datagrams one buffer holds
(a datagram costs more than its bytes: the kernel counts the whole buffer it sits in).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rooms.udpsocket import RECEIVE_BUFFER_BYTES, socket_drops  # noqa: E402

PAYLOAD = 1200
FPS = 30
KEY_PACKETS, FRAME_PACKETS = 70, 9
STALLS = (0.2, 0.5, 1.0, 2.0)  # seconds the loop is blocked, one after another, 2 s apart
STUDIOS = 1


def capacity(nbytes: int) -> int:
    """Datagrams of PAYLOAD bytes a socket asking for ``nbytes`` holds before the kernel drops."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, nbytes)
    rx.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setblocking(False)
    data = bytes(PAYLOAD)
    for _ in range(50_000):
        tx.sendto(data, rx.getsockname())
    held = 0
    rx.setblocking(False)
    while True:
        try:
            rx.recv(2048)
            held += 1
        except BlockingIOError:
            break
    rx.close()
    tx.close()
    return held


def send(port: int, seconds: float) -> None:
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    data = bytes(PAYLOAD)
    t0 = time.monotonic()
    n = 0
    while (due := t0 + n / FPS) < t0 + seconds:
        time.sleep(max(0.0, due - time.monotonic()))
        for _ in range(KEY_PACKETS if n % FPS == 0 else FRAME_PACKETS):
            tx.sendto(data, ("127.0.0.1", port))
        n += 1
    tx.sendto(b"end", ("127.0.0.1", port))


class Counter(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = 0
        self.ended = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if data == b"end":
            if not self.ended.done():
                self.ended.set_result(None)
        else:
            self.received += 1


async def run(nbytes: int) -> tuple[int, int, int]:
    loop = asyncio.get_running_loop()
    transport, counter = await loop.create_datagram_endpoint(Counter, local_addr=("127.0.0.1", 0))
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, nbytes)
    port = sock.getsockname()[1]
    seconds = 2.0 * len(STALLS) + sum(STALLS) + 1
    sender = multiprocessing.Process(target=send, args=(port, seconds))
    sender.start()
    for stall in STALLS:
        await asyncio.sleep(2.0)
        time.sleep(stall)  # the event loop blocked: nothing is read meanwhile
    await asyncio.wait_for(counter.ended, seconds + 10)
    sender.join()
    time.sleep(0.6)  # past socket_drops' cache
    dropped = socket_drops([sock])
    transport.close()
    n = round(seconds * FPS)
    sent = (n // FPS + 1) * KEY_PACKETS + (n - n // FPS - 1) * FRAME_PACKETS
    return sent, counter.received, dropped


def main() -> None:
    print(f"kernel net.core.rmem_max = {Path('/proc/sys/net/core/rmem_max').read_text().strip()} bytes")
    print(f"one studio: {FPS} fps, keyframe {KEY_PACKETS} + {FRAME_PACKETS}/frame datagrams of {PAYLOAD} B; "
          f"loop stalls {', '.join(f'{s:g}' for s in STALLS)} s")  # fmt: skip
    print("| SO_RCVBUF asked | granted | datagrams held | sent | received | dropped (kernel) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for nbytes in (262_144, RECEIVE_BUFFER_BYTES):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, nbytes)
        granted = probe.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        probe.close()
        sent, received, dropped = asyncio.run(run(nbytes))
        print(f"| {nbytes} | {granted} | {capacity(nbytes)} | {sent} | {received} | {dropped} |")


if __name__ == "__main__":
    main()
