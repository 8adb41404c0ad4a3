"""Turns the wanted graphics (a :class:`GraphicsScene`) into layers on the overlay stack.

The control plane hands over a whole scene whenever the show state changes. What is
new is rendered off the event loop (Pillow, then the conversion to I420 planes), then
the layers are updated in one go: a graphic that appears animates in, one that goes
animates out, one whose data changed (a price, the stock) is swapped in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mixer.graphics.blend import Sprite, sprite_from_rgba
from mixer.graphics.card import CardContent, render_card
from mixer.graphics.countdown import countdown_sprite, seconds_left
from mixer.graphics.graphiclayer import GraphicLayer, Placed
from mixer.graphics.layout import Layout
from mixer.graphics.logo import LogoContent, render_logo
from mixer.graphics.lowerthird import LowerThirdContent, render_lower_third
from mixer.graphics.motion import DURATION, Motion
from mixer.graphics.overlaystack import Layer, OverlayStack
from mixer.graphics.rendered import Rendered
from mixer.timedmetadata import CardOnAirData, card_cues

log = logging.getLogger(__name__)

SLOTS = ("main", "tag1", "tag2")
# Bottom to top; the main card is drawn last, over anything it might touch.
KEYS = ("logo", "lower_third", "tag2", "tag1", "main")


@dataclass(frozen=True)
class CardOnAir:
    slot: str
    content: CardContent
    countdown_until: float | None = None  # wall-clock (epoch) seconds, so it survives restarts


@dataclass(frozen=True)
class GraphicsScene:
    cards: tuple[CardOnAir, ...] = ()
    lower_third: LowerThirdContent | None = None
    logo: LogoContent | None = None


@functools.lru_cache(maxsize=32)  # ~1 MB each for a 720p main card
def _sprite(rendered: Rendered) -> Sprite:
    """The picture as planes; converted once, since Rendered objects are cached by content.

    Where the countdown patch goes, the card is left transparent: the opaque patch is
    then the only thing drawn there, so while fading the two do not stack up.
    """
    image = rendered.image
    spot = rendered.countdown
    if spot is not None:
        image = image.copy()
        image.paste((0, 0, 0, 0), (spot.x, spot.y, spot.x + spot.width, spot.y + spot.height))
    return sprite_from_rgba(image)


class GraphicsDirector:
    def __init__(
        self,
        stack: OverlayStack,
        width: int,
        height: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        duration: float = DURATION,
    ) -> None:
        self.stack = stack
        self.layout = Layout(width, height)
        self._clock, self._wall = clock, wall
        self.duration = duration
        self._active: dict[str, GraphicLayer] = {}
        self._leaving: list[GraphicLayer] = []
        self._wanted: GraphicsScene | None = None
        self._cards: dict[str, CardOnAirData] = {}  # slot -> card, as last applied (for the cues)
        self._lock = asyncio.Lock()
        self._task: asyncio.Future[None] | None = None
        self._prune_handle: asyncio.TimerHandle | None = None

    # -- rendering (any thread) --------------------------------------------------------
    def prepare(self, scene: GraphicsScene) -> dict[str, Placed]:
        """Render (or take from the caches) and place every graphic of ``scene``."""
        lay, scale = self.layout, self.layout.scale
        to_mono = self._clock() - self._wall()
        placed: dict[str, Placed] = {}
        for card in scene.cards:
            small = card.slot != "main"
            rendered = render_card(card.content, scale, small)
            sprite = _sprite(rendered)
            if small:
                x, y = lay.tag(SLOTS.index(card.slot) - 1, sprite.width, sprite.height)
            else:
                x, y = lay.main_card(sprite.width, sprite.height)
            deadline = card.countdown_until + to_mono if card.countdown_until is not None else None
            spot = rendered.countdown if deadline is not None else None
            if spot is not None and deadline is not None:
                # The first patches are drawn here, off the clock thread, like the card.
                left = seconds_left(deadline, self._clock())
                for s in (left, left - 1):
                    countdown_sprite(spot.width, spot.height, spot.style, max(0, s))
            placed[card.slot] = Placed(card.content.product, sprite, x, y, spot, deadline)
        if scene.lower_third is not None:
            rendered = render_lower_third(scene.lower_third, scale, lay.lower_third_max_width())
            sprite = _sprite(rendered)
            x, y = lay.lower_third(sprite.width, sprite.height)
            placed["lower_third"] = Placed(scene.lower_third.key, sprite, x, y)
        if scene.logo is not None:
            rendered = render_logo(scene.logo, scale, lay.logo_max_width())
            sprite = _sprite(rendered)
            x, y = lay.logo(sprite.width, sprite.height)
            placed["logo"] = Placed("logo", sprite, x, y)
        return placed

    def _slide(self, key: str, sprite: Sprite) -> tuple[int, int]:
        """Cards come in from the right edge, the lower third from the left, the logo just fades."""
        if key == "logo":
            return 0, 0
        distance = max(sprite.width // 3, self.layout.margin)
        return (-distance, 0) if key == "lower_third" else (distance, 0)

    # -- applying (event loop) ---------------------------------------------------------
    def apply(self, placed: dict[str, Placed], cues: list[dict[str, Any]] | None = None) -> None:
        """Put ``placed`` on air; ``cues`` (timed metadata) go to the clock with the new layers."""
        now = self._clock()
        for key in KEYS:
            want, layer = placed.get(key), self._active.get(key)
            if layer is not None and (want is None or want.identity != layer.identity):
                layer.motion.hide(now)
                self._leaving.append(layer)
                del self._active[key]
                layer = None
            if want is None:
                continue
            if layer is None:
                self._active[key] = GraphicLayer(key, want, Motion(now, self._slide(key, want.sprite), self.duration))
            else:
                layer.update(want)
        self._publish(now, cues or ())

    def _publish(self, now: float, cues: Iterable[dict[str, Any]] = ()) -> None:
        self._leaving = [layer for layer in self._leaving if not layer.motion.done(now)]
        layers: list[Layer] = []
        for key in KEYS:
            layers.extend(layer for layer in self._leaving if layer.key == key)
            if key in self._active:
                layers.append(self._active[key])
        self.stack.set_layers(tuple(layers), cues)

    def _prune(self) -> None:
        self._prune_handle = None
        self._publish(self._clock())

    async def show(self, scene: GraphicsScene) -> None:
        """Make ``scene`` what is on air. Of several calls racing, the latest scene wins."""
        self._wanted = scene
        async with self._lock:
            if self._wanted is not scene:
                return  # a newer scene is queued behind us; it will be applied instead
            try:
                placed = await asyncio.to_thread(self.prepare, scene)
            except Exception:
                log.exception("graphics could not be rendered; what was on air stays")
                raise
            cards = {card.slot: CardOnAirData(card.content, card.countdown_until) for card in scene.cards}
            cues, self._cards = card_cues(self._cards, cards), cards
            self.apply(placed, cues)
            if self._leaving:
                # Drop the layers that finished leaving, so the stack does not grow.
                if self._prune_handle is not None:
                    self._prune_handle.cancel()
                self._prune_handle = asyncio.get_running_loop().call_later(self.duration + 0.05, self._prune)

    def request(self, scene: GraphicsScene) -> asyncio.Future[None]:
        """Start :meth:`show` without waiting; :meth:`settle` waits for the latest one."""
        if self._task is not None and scene == self._wanted:
            return self._task  # nothing changed (e.g. a studio came online): no work at all
        task = asyncio.ensure_future(self.show(scene))
        # Retrieved here so a failure nobody awaits is not reported twice (show() logged it).
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._task = task
        return task

    async def settle(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def close(self) -> None:
        if self._prune_handle is not None:
            self._prune_handle.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    # -- views -------------------------------------------------------------------------
    def on_air(self) -> dict[str, tuple[int, int, int, int]]:
        """Where each graphic on air sits when fully shown: key -> (x, y, width, height)."""
        return {
            key: (layer.placed.x, layer.placed.y, layer.placed.sprite.width, layer.placed.sprite.height)
            for key, layer in self._active.items()
        }


class ProgramGraphics:
    """The graphics of every program of a show: one :class:`GraphicsDirector` per canvas, each
    placing the same scene for its own size (landscape or portrait), all from one request.

    Each director hands its own copy of the timed metadata cues to its canvas, so every
    program's outputs carry the cues at the frame that first draws the change.
    """

    def __init__(self, directors: Iterable[GraphicsDirector]) -> None:
        self.directors = tuple(directors)

    def add(self, director: GraphicsDirector) -> None:
        """A program added while live; the caller gives it the current scene (``director.request``)."""
        self.directors = (*self.directors, director)

    def remove(self, stack: OverlayStack) -> GraphicsDirector | None:
        """The director drawing on ``stack`` (a removed program's), taken out; the caller closes it."""
        found = next((d for d in self.directors[1:] if d.stack is stack), None)
        self.directors = tuple(d for d in self.directors if d is not found)
        return found

    @property
    def main(self) -> GraphicsDirector:
        return self.directors[0]

    def request(self, scene: GraphicsScene) -> None:
        for director in self.directors:
            director.request(scene)

    async def settle(self) -> None:
        for director in self.directors:
            await director.settle()

    async def close(self) -> None:
        for director in self.directors:
            await director.close()

    def on_air(self) -> dict[str, tuple[int, int, int, int]]:
        """Where each graphic of the main program sits (:meth:`GraphicsDirector.on_air`)."""
        return self.main.on_air()
