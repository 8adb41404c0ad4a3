"""One operator's talkback microphone: an aiortc peer connection that receives audio only.

The control page offers one send-only (or send-receive) audio section; aiortc
decodes it (Opus, in its own decoder thread) and the receive task here only
moves frame references into a :class:`FeedBuffer`, which the program clock
drains into the return mixes (mixer/mixminus.py).  Nothing here decides who
hears it: that is the talk's ``targets`` and ``on``, set by the control API.

A session that is not connected :data:`CONNECT_TIMEOUT` seconds after its
answer, or whose connection fails, closes itself (``on_closed`` is called once).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from aiortc import MediaStreamTrack, RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

from mixer.feedbuffer import FeedBuffer
from rooms.compat import shorten_audio_jitter, stop_decoders
from rooms.peerwatch import PeerWatch
from rooms.sdp import OfferError, announce_public_address, bundle_offer, offer_problem, without_unusable_candidates
from rooms.trackframes import track_frames

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 20.0  # seconds from the answer to a connected peer
CLOSE_TIMEOUT = 5.0


class TalkbackOfferError(ValueError):
    """An offer this endpoint cannot answer; the message says why (sent to the client)."""


def check_offer(sdp: str) -> None:
    if not sdp.lstrip().startswith("v=0"):
        raise TalkbackOfferError("body is not an SDP offer (must start with v=0)")
    if "\nm=audio" not in sdp:
        raise TalkbackOfferError("a talkback offer needs an audio section (the microphone)")


class TalkbackSession(PeerWatch):
    def __init__(
        self,
        show_id: str,
        operator: str,
        on_closed: Callable[[TalkbackSession], Awaitable[None]],
        *,
        ice_servers: tuple[RTCIceServer, ...] = (),
        public_address: str = "",
    ) -> None:
        self.id = secrets.token_urlsafe(12)
        self.show_id = show_id
        self.operator = operator  # the operator's name: who the hosts see talking
        self.feed = FeedBuffer(f"talkback:{self.id}")
        self.created = time.time()
        self.connected_at: float | None = None
        self.audio_frames = 0
        self.answer = ""
        self._public_address = public_address
        self._on_closed = on_closed
        self._closed = False
        self._tasks: set[asyncio.Future[None]] = set()
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=list(ice_servers)))
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    @property
    def state(self) -> str:
        return "closed" if self._closed else self.pc.connectionState

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def accept(self, offer_sdp: str) -> str:
        """Apply the offer, return the answer (SDP); raises :class:`TalkbackOfferError`."""
        try:
            check_offer(offer_sdp)
            offer = without_unusable_candidates(bundle_offer(offer_sdp))
            await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            for transceiver in self.pc.getTransceivers():  # receive only
                transceiver.direction = "recvonly"
            if not any(t.kind == "audio" for t in self.pc.getTransceivers()):
                raise TalkbackOfferError("a talkback offer needs an audio section (the microphone)")
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except TalkbackOfferError:
            await self.close()
            raise
        except OfferError as exc:
            await self.close()
            raise TalkbackOfferError(str(exc)) from None
        except Exception as exc:  # aiortc: ValueError, OperationError, ... on odd SDP
            await self.close()
            raise TalkbackOfferError(offer_problem(exc)) from None
        answer = self.pc.localDescription.sdp
        if self._public_address:
            answer = announce_public_address(answer, self._public_address)
        self.answer = answer
        self._spawn(self._close_unless_connected(CONNECT_TIMEOUT, f"talkback {self.id} of {self.operator}"))
        return answer

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio":
            return
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver.track is track:
                shorten_audio_jitter(transceiver.receiver)  # low delay: the mixer buffers it again
        self._spawn(self._receive(track))

    async def _receive(self, track: MediaStreamTrack) -> None:
        async for frame in track_frames(track):
            self.audio_frames += 1
            self.feed.push_audio(frame)  # type: ignore[arg-type]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        # The decoder thread first, joined off the loop (rooms/compat/aiortcreceive.py, rooms/whipsession.py).
        await asyncio.to_thread(stop_decoders, [t.receiver for t in self.pc.getTransceivers()])
        try:
            await asyncio.wait_for(self.pc.close(), CLOSE_TIMEOUT)
        except TimeoutError:
            log.warning("talkback %s: peer connection did not close within %ss", self.id, CLOSE_TIMEOUT)
        except Exception:
            log.debug("talkback %s: error while closing", self.id, exc_info=True)
        self.feed.clear()
        await self._on_closed(self)

    def stats(self) -> dict[str, object]:
        return {
            "id": self.id,
            "operator": self.operator,
            "state": self.state,
            "audio_frames": self.audio_frames,
            "connected_s": round(time.time() - self.connected_at, 1) if self.connected_at else None,
        }
