"""The frames of a received aiortc track, as an async iterator that ends with the track."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av.frame import Frame
from av.packet import Packet


async def track_frames(track: MediaStreamTrack) -> AsyncIterator[Frame | Packet]:
    """Each frame ``track.recv()`` gives (decoded ``av.VideoFrame``/``av.AudioFrame`` on a
    receiver's track), until the track ends (aiortc's ``MediaStreamError``: stopped or closed)."""
    while True:
        try:
            yield await track.recv()
        except MediaStreamError:
            return
