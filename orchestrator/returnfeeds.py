"""Talk and listen for one show: the hosts' return feeds and the crew's talkback.

- **Return feed** (one per studio, at most): a second peer connection the join
  page opens (``POST /return/{show}/{studio}``, the host's join token), WHEP
  style, separate from the receive-only WHIP one. It carries the studio's
  mix-minus (program sound without its own microphone, mixer/mixminus.py,
  encoded to Opus in mixer/returnaudio.py) and the shared small return picture
  (mixer/outputs/returnpicture.py). A new return for a studio replaces the old
  one (a page reload); it closes with the studio's WHIP session.
- **Talkback** (one per operator page): the operator's microphone over WebRTC
  (rooms/talkbacksession.py), heard only in the return feeds it targets while
  the operator holds the button (``on``), with their program sound ducked.

The shared encodes run only while they have a listener: the picture encode and
the Opus thread start with the first return feed and stop with the last.
All methods run on the event loop; media reaches the peers through
``call_soon_threadsafe`` from the encoder threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable

from aiortc import RTCIceServer

from mixer.encodedpacket import EncodedPacket
from mixer.mixminus import Talk
from mixer.outputs.returnpicture import ReturnPicture
from mixer.outputs.viewercodec import ViewerCodec
from mixer.program import Program
from mixer.returnaudio import ReturnAudioEncoder
from rooms.sdp import OfferError
from rooms.talkbacksession import TalkbackSession
from rooms.webrtccodecs import offered_video_codecs
from rooms.whepsession import WhepSession

log = logging.getLogger(__name__)

VIDEO_QUEUE = 15  # packets: half a second of return picture
AUDIO_QUEUE = 10  # 20 ms Opus packets: a return that falls 200 ms behind drops its oldest
JOIN_TIMEOUT = 2.0


class ReturnFeeds:
    def __init__(
        self,
        show_id: str,
        program: Program,
        on_change: Callable[[], None],
        *,
        ice_servers: Iterable[RTCIceServer] = (),
        public_address: str = "",
    ) -> None:
        self.show_id = show_id
        self.program = program
        self._on_change = on_change
        self.ice_servers = list(ice_servers)
        self.public_address = public_address
        self._loop: asyncio.AbstractEventLoop | None = None
        self.feeds: dict[str, WhepSession] = {}  # studio -> its host's return
        self.talks: dict[str, TalkbackSession] = {}  # talk id -> an operator page's microphone
        self._talk_state: dict[str, Talk] = {}
        self.picture = ReturnPicture(self._post_video, program.encoder.request_keyframe)
        self.audio: ReturnAudioEncoder | None = None
        self._stopping: set[asyncio.Future[bool]] = set()  # stopped encoder threads being joined
        self.returns_total = 0
        self.talks_total = 0
        self._closed = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.program.add_sink(self.picture)  # live: never behind a broadcast delay

    # -- return feeds -------------------------------------------------------------------
    async def open_return(self, studio_id: str, offer_sdp: str) -> WhepSession:
        """Answer a host page's recvonly offer; raises :class:`OfferError` (a 400)."""
        if self._closed:
            raise OfferError("this show is stopping")
        try:
            offered = offered_video_codecs(offer_sdp) if offer_sdp.lstrip().startswith("v=0") else []
        except Exception:  # aiortc's parser on odd SDP; WhepSession.accept names the problem
            offered = []
        has_video = "\nm=video" in offer_sdp
        if has_video and not any(c.mimeType.lower() == "video/vp8" for c in offered):
            raise OfferError("the return picture is VP8: offer VP8 in the video section (or no video section)")
        viewer = WhepSession(
            self.show_id,
            self.picture.request_keyframe,
            self._return_closed,
            video_queue=VIDEO_QUEUE,
            audio_queue=AUDIO_QUEUE,
            codec=ViewerCodec.VP8 if has_video else None,
            ice_servers=self.ice_servers,
        )
        await viewer.accept(offer_sdp, "")
        if self._closed:
            await viewer.close()
            raise OfferError("this show is stopping")
        old = self.feeds.get(studio_id)
        self.feeds[studio_id] = viewer
        self.returns_total += 1
        if old is not None:
            await old.close()  # a page reload: the new one replaces it
        self._update()
        return viewer

    def feed(self, studio_id: str, feed_id: str) -> WhepSession | None:
        viewer = self.feeds.get(studio_id)
        return viewer if viewer is not None and viewer.id == feed_id else None

    async def close_return(self, studio_id: str) -> None:
        """The studio's session ended (left, kicked, its link reissued): its return goes too."""
        viewer = self.feeds.get(studio_id)
        if viewer is not None:
            await viewer.close()

    async def _return_closed(self, viewer: WhepSession) -> None:
        for studio_id, current in list(self.feeds.items()):
            if current is viewer:
                del self.feeds[studio_id]
        self._update()

    def _update(self) -> None:
        """The mix-minus list, and the shared encodes on or off with the first/last return."""
        studios = frozenset(self.feeds)
        if studios and not self._closed:
            if self.audio is None:
                self.audio = ReturnAudioEncoder(self.program.fmt.sample_rate, self._post_audio)
                self.audio.start()
                self.program.returns.on_mix = self.audio.submit
            self.program.returns.set_returns(studios)
            self.picture.start_encode()
            return
        self.program.returns.set_returns(frozenset())
        self.program.returns.on_mix = None
        audio, self.audio = self.audio, None
        if audio is not None:
            audio.stop()
            self._join_later(audio.join)
        picture = self.picture.stop_encode()
        if picture is not None:
            self._join_later(picture.join)

    def _join_later(self, join: Callable[[float], bool]) -> None:
        """Wait for a stopped encoder thread off the loop (it frees its codecs as it ends)."""
        task: asyncio.Future[bool] = asyncio.ensure_future(asyncio.to_thread(join, JOIN_TIMEOUT))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    # encoder threads -> loop
    def _post_audio(self, studio_id: str, packet: EncodedPacket) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed: the server is going down
                self._loop.call_soon_threadsafe(self._deliver_audio, studio_id, packet)

    def _post_video(self, packet: EncodedPacket) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._deliver_video, packet)

    def _deliver_audio(self, studio_id: str, packet: EncodedPacket) -> None:
        viewer = self.feeds.get(studio_id)
        if viewer is not None:
            viewer.push(packet, True)

    def _deliver_video(self, packet: EncodedPacket) -> None:
        for viewer in list(self.feeds.values()):
            if viewer.codec is ViewerCodec.VP8:
                viewer.push(packet, False)

    # -- talkback -------------------------------------------------------------------------
    async def open_talkback(self, operator: str, offer_sdp: str) -> TalkbackSession:
        """An operator page's microphone; raises rooms.talkbacksession.TalkbackOfferError (a 400)."""
        session = TalkbackSession(
            self.show_id,
            operator,
            self._talk_closed,
            ice_servers=tuple(self.ice_servers),
            public_address=self.public_address,
        )
        await session.accept(offer_sdp)
        if self._closed:
            await session.close()
            raise OfferError("this show is stopping")
        self.talks[session.id] = session
        self._talk_state[session.id] = Talk(session.feed, operator)
        self.talks_total += 1
        self._talks_changed()
        return session

    def talk(self, talk_id: str, operator: str) -> TalkbackSession | None:
        """The operator's own talkback (None for another operator's: nobody speaks with another's voice)."""
        session = self.talks.get(talk_id)
        return session if session is not None and session.operator == operator else None

    def set_talk(self, talk_id: str, on: bool, targets: frozenset[str] | None) -> Talk:
        """Open (``on``) or close the talk to ``targets`` (None: every studio); ids checked by the caller."""
        talk = dataclasses.replace(self._talk_state[talk_id], on=on, targets=targets)
        self._talk_state[talk_id] = talk
        self._talks_changed()
        return talk

    async def _talk_closed(self, session: TalkbackSession) -> None:
        self.talks.pop(session.id, None)
        self._talk_state.pop(session.id, None)
        self._talks_changed()

    def _talks_changed(self) -> None:
        self.program.returns.set_talks(self._talk_state)
        self._on_change()  # the host pages show who is talking

    def talking_to(self, studio_id: str) -> list[str]:
        """Names of the operators talking to this studio now (what its host page shows)."""
        return sorted({t.name for t in self._talk_state.values() if t.reaches(studio_id)})

    # -- life cycle and status -------------------------------------------------------------
    async def close(self) -> None:
        self._closed = True
        for viewer in list(self.feeds.values()):
            await viewer.close()
        for session in list(self.talks.values()):
            await session.close()
        self._update()
        self.program.encoder.remove_sink(self.picture)
        if self._stopping:
            await asyncio.wait(set(self._stopping), timeout=JOIN_TIMEOUT + 1)

    def status(self) -> dict[str, object]:
        now = time.time()
        return {
            "returns": len(self.feeds),
            "returns_connected": sum(1 for v in self.feeds.values() if v.state == "connected"),
            "returns_total": self.returns_total,
            "return_studios": sorted(self.feeds),
            "talkbacks": len(self.talks),
            "talkbacks_open": sum(1 for t in self._talk_state.values() if t.on),
            "talkbacks_total": self.talks_total,
            "talking": [
                {
                    "operator": t.name,
                    "targets": sorted(t.targets) if t.targets is not None else "all",
                }
                for t in self._talk_state.values()
                if t.on
            ],
            "picture": self.picture.status(),
            "audio": self.audio.status() if self.audio is not None else None,
            "feeds": [{"studio": s, **v.stats()} for s, v in self.feeds.items()],
            "talkback_sessions": [s.stats() for s in self.talks.values()],
            "at": round(now, 3),
        }
