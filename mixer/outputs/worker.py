"""The two halves every threaded output shares: feeding its queue from the encoder
thread without ever raising there, and waiting for its worker at close."""

from __future__ import annotations

import logging
import threading

from mixer.encodedpacket import EncodedPacket
from mixer.outputs.packetqueue import PacketQueue

log = logging.getLogger(__name__)


def offer(queue: PacketQueue, packet: EncodedPacket, stamp: float, who: str) -> None:
    """Queue a packet (the queue drops by its own policy); the encoder never sees our failures."""
    try:
        queue.put(packet, stamp)
    except Exception:
        log.exception("%s: put failed", who)


def join_worker(thread: threading.Thread | None, timeout: float, who: str) -> bool:
    """Wait for an output's worker (not from the worker itself); False if it is still running."""
    if thread is None or thread is threading.current_thread():
        return True
    thread.join(timeout=timeout)
    if thread.is_alive():
        log.warning("%s: worker did not finish within %g s; left to end on its own", who, timeout)
        return False
    return True
