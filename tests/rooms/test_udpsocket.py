"""The ICE sockets' receive buffers (rooms/udpsocket.py), on real aioice sockets and real drops."""

from __future__ import annotations

import socket
import time

import aioice
import aioice.turn

from rooms.compat import ice_sockets, offer_host_addresses
from rooms.udpsocket import size_receive_buffers, socket_drops


class IceTransport:
    """The one attribute of aiortc's RTCIceTransport that ice_sockets reads."""

    def __init__(self, connection: aioice.Connection) -> None:
        self._connection = connection


async def test_gathered_ice_sockets_get_the_receive_buffer_asked_for() -> None:
    before = aioice.turn.UDP_SOCKET_BUFFER_SIZE
    offer_host_addresses(["127.0.0.1"])
    try:
        granted = size_receive_buffers(1024 * 1024)
        assert granted >= 1024 * 1024  # (Linux grants twice what is asked, within rmem_max)
        connection = aioice.Connection(ice_controlling=False)
        await connection.gather_candidates()
        sockets = ice_sockets([IceTransport(connection)])
        assert sockets, "aioice bound no socket"
        for sock in sockets:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == granted
        await connection.close()
    finally:
        aioice.turn.UDP_SOCKET_BUFFER_SIZE = before
        offer_host_addresses([])


def test_socket_drops_counts_what_the_kernel_dropped_at_a_full_buffer() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel's minimum: a few datagrams
        rx.bind(("127.0.0.1", 0))
        time.sleep(0.6)  # past the cache of an earlier read
        assert socket_drops([rx]) == 0
        for _ in range(200):
            tx.sendto(bytes(1200), rx.getsockname())
        time.sleep(0.6)
        assert socket_drops([rx]) > 150
