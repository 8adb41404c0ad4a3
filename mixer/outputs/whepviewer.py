"""What the WHEP output needs of each viewer's session, and its refusal when there is no room.

The sessions (peer connections, signalling) live at the edge (:mod:`rooms.whepsession`); the
output (:mod:`mixer.outputs.whepoutput`) only hands them packets through this contract.
"""

from __future__ import annotations

from typing import Protocol

from mixer.encodedpacket import EncodedPacket
from mixer.outputs.viewercodec import ViewerCodec


class WhepFull(Exception):
    """No room for another viewer (or the output is closed)."""


class WhepViewer(Protocol):
    """What the output needs of a viewer's session (:class:`rooms.whepsession.WhepSession`)."""

    @property
    def id(self) -> str: ...
    @property
    def codec(self) -> ViewerCodec | None: ...
    @property
    def connected_at(self) -> float | None: ...
    @property
    def state(self) -> str: ...
    @property
    def dropped_packets(self) -> int: ...
    @property
    def skipped_packets(self) -> int: ...
    @property
    def resyncs(self) -> int: ...
    def push(self, packet: EncodedPacket, audio: bool) -> None: ...
    def send_cue(self, packet: EncodedPacket) -> None: ...
    async def close(self) -> None: ...
    def stats(self) -> dict[str, object]: ...
