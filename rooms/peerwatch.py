"""When a peer session connected, and its closing when it never connects or its connection fails.

Shared by the sessions that answer a browser's offer and then wait for it:
WHEP viewers (rooms/whepsession.py) and talkback microphones (rooms/talkbacksession.py).
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiortc import RTCPeerConnection

log = logging.getLogger(__name__)


class PeerWatch:
    """Mix-in for a session with ``pc``, ``connected_at``, ``_closed`` and :meth:`close`.

    ``connected_at`` (a ``time.time()`` stamp) is set by :meth:`_on_state`, which the
    session registers for aiortc's ``connectionstatechange``.
    """

    pc: RTCPeerConnection
    connected_at: float | None
    _closed: bool

    async def close(self) -> None:
        raise NotImplementedError

    async def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and self.connected_at is None:
            self.connected_at = time.time()
        elif state in ("failed", "closed"):
            await self.close()

    async def _close_unless_connected(self, timeout: float, who: str) -> None:
        """Close the session unless it connects within ``timeout`` seconds (``who`` names it in the log)."""
        await asyncio.sleep(timeout)
        if self.connected_at is None and not self._closed:
            log.info("%s did not connect in %.0f s", who, timeout)
            await self.close()
