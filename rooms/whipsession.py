"""One studio's WHIP ingest: an aiortc peer connection feeding a FeedBuffer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from rooms.feedbuffer import FeedBuffer

log = logging.getLogger(__name__)


class SdpError(ValueError):
    """The offer is not SDP we can answer; the message says why."""


def check_offer(sdp: str) -> None:
    if not sdp.lstrip().startswith("v=0"):
        raise SdpError("body is not an SDP offer (must start with v=0)")
    if "\nm=audio" not in sdp and "\nm=video" not in sdp:
        raise SdpError("SDP offer has no audio or video media section")


class WhipSession:
    """Receives one studio's audio and video; decoded frames go to ``feed``.

    aiortc decodes in its own worker thread, so the two receive tasks here only
    move frame references into the feed buffer.
    """

    def __init__(
        self,
        show_id: str,
        studio_id: str,
        feed: FeedBuffer,
        on_closed: Callable[[WhipSession], Awaitable[None]],
    ) -> None:
        self.id = secrets.token_urlsafe(12)
        self.show_id, self.studio_id = show_id, studio_id
        self.feed = feed
        self.pc = RTCPeerConnection()
        self.created = time.time()
        self._on_closed = on_closed
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.video_frames = 0
        self.audio_frames = 0
        self.resolution: tuple[int, int] | None = None
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    @property
    def state(self) -> str:
        return "closed" if self._closed else self.pc.connectionState

    async def accept(self, offer_sdp: str) -> str:
        check_offer(offer_sdp)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            # Receive only: make every transceiver recvonly before answering.
            for transceiver in self.pc.getTransceivers():
                transceiver.direction = "recvonly"
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except (ValueError, KeyError, IndexError) as exc:
            await self.close()
            raise SdpError(f"cannot answer this SDP offer: {exc}") from None
        return self.pc.localDescription.sdp

    def _on_track(self, track: MediaStreamTrack) -> None:
        task = asyncio.ensure_future(self._receive(track))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _receive(self, track: MediaStreamTrack) -> None:
        video = track.kind == "video"
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if video:
                self.video_frames += 1
                self.resolution = (frame.width, frame.height)  # type: ignore[union-attr]
                self.feed.push_video(frame)  # type: ignore[arg-type]
            else:
                self.audio_frames += 1
                self.feed.push_audio(frame)  # type: ignore[arg-type]

    async def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.pc.close()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.feed.clear()
        await self._on_closed(self)

    def stats(self) -> dict[str, object]:
        return {
            "session": self.id,
            "state": self.state,
            "resolution": f"{self.resolution[0]}x{self.resolution[1]}" if self.resolution else None,
            "video_frames": self.video_frames,
            "audio_frames": self.audio_frames,
            "connected_s": round(time.time() - self.created, 1),
        }
