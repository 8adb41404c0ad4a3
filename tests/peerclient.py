"""What every aiortc test client shares: decode each track it receives, wait to be connected, close.

The clients (tests/returnclient.py, the WHEP viewer of tests/mixer/test_whep.py, the crew's
listener of tests/orchestrator/test_crew_monitor.py, tests/mixer/test_timeline.py) differ only
in what they keep of each decoded frame: their :meth:`PeerClient.on_frame`. Each offers
127.0.0.1 among its ICE candidates by itself (:func:`offering_loopback`): the tests'
namespaces have only loopback, which aioice leaves out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import aiohttp
import aioice.ice
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from rooms import compat
from rooms.trackframes import track_frames

LOOPBACK = "127.0.0.1"
_lent = 0  # gatherings running on the loopback address that offering_loopback set


@contextlib.contextmanager
def offering_loopback() -> Iterator[None]:
    """While a test peer gathers its ICE candidates, 127.0.0.1 is one of its host addresses.

    aioice leaves loopback out of its host addresses, so in a loopback-only namespace a
    peer gathers nothing and sits in ``new``. If this process already offers loopback (an app
    made here applied its config's ``ice_hosts``), nothing changes; otherwise loopback is offered
    while the peer gathers (concurrent gatherings share it) and aioice's own choice comes back after.
    """
    global _lent
    compat.install()  # the host-address setting is read by the installed aioice patch
    if _lent == 0 and LOOPBACK in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False):
        yield
        return
    if _lent == 0:
        compat.offer_host_addresses([LOOPBACK])
    _lent += 1
    try:
        yield
    finally:
        _lent -= 1
        if _lent == 0:
            compat.offer_host_addresses([])


async def wait_connected(pc: RTCPeerConnection, timeout: float) -> None:
    """Until ``pc`` is connected; TimeoutError after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while pc.connectionState != "connected":
            await asyncio.sleep(0.05)


class PeerClient:
    """An aiortc peer that POSTs its offer; the tracks it receives are decoded, each frame handed to
    :meth:`on_frame`."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection()
        self._tasks: list[asyncio.Future[None]] = []
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.ensure_future(self._receive(track)))

    async def _receive(self, track: MediaStreamTrack) -> None:
        async for frame in track_frames(track):
            self.on_frame(frame)

    def on_frame(self, frame: Any) -> None:
        """One decoded frame (``av.VideoFrame`` or ``av.AudioFrame``) of any track."""
        raise NotImplementedError

    async def post_offer(self, url: str, headers: Mapping[str, str]) -> tuple[int, str, Mapping[str, str]]:
        """Make the offer and POST it as ``application/sdp`` (plus ``headers``): status, body, headers.

        The offer's candidates include 127.0.0.1 (:func:`offering_loopback`).
        """
        with offering_loopback():  # aiortc gathers in setLocalDescription
            await self.pc.setLocalDescription(await self.pc.createOffer())
        headers = {"Content-Type": "application/sdp", **headers}
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=self.pc.localDescription.sdp, headers=headers) as res,
        ):
            return res.status, await res.text(), res.headers

    async def answered(self, answer: str, timeout: float) -> None:
        """Apply the server's SDP answer and wait until connected."""
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await wait_connected(self.pc, timeout)

    async def close_peer(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
