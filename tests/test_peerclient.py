"""tests/peerclient.py connects on a loopback-only machine without its caller setting up ICE.

The trial's example: a WHEP viewer made from PeerClient against a server in another process
sat in ``new`` (no candidate in its offer) unless the caller first did ``compat.install();
compat.offer_host_addresses(["127.0.0.1"])``. Here this process offers aioice's own choice
(which leaves loopback out) and the server runs as its own process, as an operator runs it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import aioice.ice
import av

from rooms import compat
from tests.peerclient import LOOPBACK, PeerClient
from tests.ports import free_port
from tests.serverprocess import config_file, show_table, spawn_server


class _Viewer(PeerClient):
    """A WHEP viewer that counts the program's decoded video frames."""

    def __init__(self) -> None:
        super().__init__()
        self.frames = 0

    def on_frame(self, frame: Any) -> None:
        if isinstance(frame, av.VideoFrame):
            self.frames += 1


async def _up(base: str, proc: Any) -> None:
    async with asyncio.timeout(60):  # a loaded machine: the process imports PyAV, aiortc...
        while True:
            assert proc.poll() is None, "server exited"
            try:
                async with aiohttp.ClientSession() as http, http.get(base + "/healthz") as res:
                    if res.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)


async def test_a_peer_client_connects_without_its_caller_offering_loopback(tmp_path: Path) -> None:
    port = free_port()
    config = config_file(
        tmp_path, show_table("peer", "Peer", width=320, height=180, fps=15, video_bitrate=300000), listen_port=port
    )
    base = f"http://127.0.0.1:{port}"
    proc = spawn_server(config)
    compat.offer_host_addresses([])  # what a process that set nothing up offers: aioice's own choice
    viewer = _Viewer()
    try:
        assert LOOPBACK not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
        await _up(base, proc)
        viewer.pc.addTransceiver("video", direction="recvonly")
        viewer.pc.addTransceiver("audio", direction="recvonly")
        status, answer, _ = await viewer.post_offer(base + "/whep/peer", {})
        assert status == 201, answer
        offered = [x for x in viewer.pc.localDescription.sdp.splitlines() if x.startswith("a=candidate:")]
        assert offered and all(f" {LOOPBACK} " in x for x in offered), offered
        await viewer.answered(answer, timeout=30)
        async with asyncio.timeout(30):
            while viewer.frames < 5:
                await asyncio.sleep(0.1)
        # The setting was lent for the gathering only: this process offers aioice's own choice again.
        assert LOOPBACK not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    finally:
        await viewer.close_peer()
        proc.terminate()
        proc.wait(timeout=30)
