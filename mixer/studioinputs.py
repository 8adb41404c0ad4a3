"""The studios as the program clock sees them: their feeds, their last frames and audio-only cards.

A studio is live while its frames arrive (audio frames for an audio-only studio, which shows its
card).  Studios are kept by id, not by session: a new session of the same studio (a new feed)
keeps the studio's last frames, and a studio whose feed is detached keeps its last frames until
they are stale, so a session replaced within ``stale_after`` never makes the program fall back.
"""

from __future__ import annotations

from collections.abc import Callable

import av

from mixer.audiomixer import AudioMixer
from mixer.compositor import Picture
from mixer.feedbuffer import FeedBuffer
from mixer.scene import Scene
from mixer.videodelay import StudioVideo, new_token

MAX_VIDEO_DELAY = 0.5  # seconds; beyond this a studio's audio buffer is broken, not late


class StudioInputs:
    """The feeds and cards (replaced whole by the control plane, read once per tick by the clock)
    and each studio's video (clock thread only).

    ``audio``: the show's mixer (when each studio was last heard, its buffer latency);
    ``forget(studio_id)`` is called from the clock thread when a studio that left goes stale.
    """

    def __init__(self, audio: AudioMixer, forget: Callable[[str], None]) -> None:
        self._audio = audio
        self._forget = forget
        self.feeds: dict[str, FeedBuffer] = {}
        self.cards: dict[str, Picture] = {}  # audio-only studios' pictures (studio id -> card)
        self.videos: dict[str, StudioVideo] = {}

    # -- control plane side (event loop): copy, change, swap ------------------
    def attach(self, feed: FeedBuffer, card: av.VideoFrame | None = None) -> None:
        """A studio's (new) session feeds ``feed``; ``card`` given: it sends audio only, show the card."""
        cards = dict(self.cards)
        if card is not None:
            cards[feed.studio_id] = (card, new_token())
        else:
            cards.pop(feed.studio_id, None)
        self.cards = cards
        self.feeds = {**self.feeds, feed.studio_id: feed}

    def detach(self, studio_id: str) -> None:
        """The studio's session ended: its last frames stay until stale (a new session may follow)."""
        feeds = dict(self.feeds)
        feeds.pop(studio_id, None)
        self.feeds = feeds

    def audio_only(self) -> dict[str, av.VideoFrame]:
        """The studios attached as audio-only, with their cards."""
        return {sid: card for sid, (card, _) in self.cards.items()}

    def video_delays(self) -> dict[str, float]:
        """Each studio's current video delay, seconds (any thread)."""
        return {sid: v.delay for sid, v in dict(self.videos).items()}  # dict(): the clock adds and removes

    # -- the clock thread -----------------------------------------------------
    def poll(self, feeds: dict[str, FeedBuffer], cards: dict[str, Picture], now: float, stale: float) -> set[str]:
        """Take each studio's newest frame; returns the studios live now (delivered within ``stale``)."""
        for studio_id, feed in feeds.items():
            video = self.videos.get(studio_id)
            if video is None:
                video = self.videos[studio_id] = StudioVideo(feed)
            elif video.feed is not feed:  # a new session of the same studio: same slot, same last frames
                video.rebind(feed)
            video.poll()
        live = self.live(cards, now, stale)
        for gone in set(self.videos) - set(feeds) - live:  # left, and its last frames are stale
            del self.videos[gone]
            self._forget(gone)
        return live

    def live(self, cards: dict[str, Picture], now: float, within: float) -> set[str]:
        """Studios whose frames arrived within ``within`` seconds: audio ones for audio-only studios."""
        return {
            sid
            for sid, video in self.videos.items()
            if (now - self._audio.heard(sid) <= within if sid in cards else video.fresh(now, within))
        }

    def pictures(self, now: float, scene: Scene, live: set[str], cards: dict[str, Picture]) -> dict[str, Picture]:
        """The picture of each live studio for this tick, delayed to meet its sound (``av_sync_ms``
        plus its audio buffer's latency, at most ``MAX_VIDEO_DELAY``); cards for audio-only ones."""
        pictures: dict[str, Picture] = {}
        base = scene.av_sync_ms / 1000
        for studio_id, video in self.videos.items():
            delay = min(MAX_VIDEO_DELAY, max(0.0, base + self._audio.latency(studio_id)))
            picture = video.pick(now, delay)  # for every studio: keeps each one's frame list short
            picture = cards.get(studio_id, picture)
            if picture is not None and studio_id in live:
                pictures[studio_id] = picture
        return pictures
