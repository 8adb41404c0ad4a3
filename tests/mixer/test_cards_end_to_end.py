"""A card through the whole program: an aiortc studio sends solid green, the crew puts a card
on air through the API, and the decoded HTTP-FLV output shows it: animating in, its pixels in
its region, animating out, and green again after."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from typing import Any

import av
import numpy as np

from mixer.graphics.blend import canvas_planes
from mixer.graphics.director import GraphicsDirector
from mixer.graphics.overlaystack import OverlayStack
from orchestrator import catalogue
from orchestrator.store import ShowState
from tests.conftest import Server
from tests.flvpull import FlvPull
from tests.mediacheck import assert_continuous, decode, without_cue_points
from tests.whipclient import AiortcPublisher

W, H = 640, 360
BASE = "/api/shows/test-show"


def _frames(flv: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(without_cue_points(flv)), format="flv") as container:
        return [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]


def _expected(server: Server, green: np.ndarray) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Where the card sits and what the region should look like, from the same code the server runs."""
    show = server.config.shows[0]
    state = ShowState(show.id, cards={"main": {"product": "soup", "price": 39.9, "was_price": 59.9, "shown_at": 0.0}})
    stack = OverlayStack()
    director = GraphicsDirector(stack, W, H, clock=lambda: 0.0, wall=lambda: 0.0)
    director.apply(director.prepare(catalogue.graphics_scene(show, state)))
    canvas = green.copy()
    stack.blend_into(canvas, W, H, 10.0)
    return director.on_air()["main"], canvas


def _card_signal(frame: np.ndarray, green: np.ndarray, rect: tuple[int, int, int, int]) -> float:
    """Mean chroma distance from the green picture inside the card's region."""
    x, y, w, h = rect
    _, fu, fv = canvas_planes(frame, W, H)
    _, gu, gv = canvas_planes(green, W, H)
    box = (slice(y // 2, (y + h) // 2), slice(x // 2, (x + w) // 2))
    return float(np.abs(fu[box].astype(int) - gu[box]).mean() + np.abs(fv[box].astype(int) - gv[box]).mean())


@contextlib.asynccontextmanager
async def green_program_pulled(server: Server) -> AsyncIterator[FlvPull]:
    """Studio alpha (green) on air, its program pulled over HTTP-FLV from 1.5 s before the block on.

    The pull ends with the block (or before, by its ``stop``), then the studio.
    """
    publisher = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "green")
    pull = FlvPull(f"{server.url}/live/test-show.flv")
    try:
        await server.go_live(publisher)
        await asyncio.sleep(0.5)
        pull.start()
        await asyncio.sleep(1.5)
        yield pull
        await pull.stop()
    finally:
        pull.cancel()
        await publisher.stop()


async def test_card_is_drawn_into_the_program_and_animates(server: Server, tmp_path: Any) -> None:
    async with green_program_pulled(server) as pull:
        flv = pull.data
        status, body = await server.api("POST", f"{BASE}/cards", json={"product": "soup", "slot": "main"})
        assert status == 200, body
        await asyncio.sleep(2.0)
        assert (await server.api("DELETE", f"{BASE}/cards/main"))[0] == 200
        await asyncio.sleep(1.5)

    d = await asyncio.to_thread(decode, bytes(flv), "flv")
    assert_continuous(d, 30)
    frames = await asyncio.to_thread(_frames, bytes(flv))
    start = d.colours.index("green") + 2  # the FLV starts at a keyframe that may predate the cut
    green = frames[start]
    frames, colours = frames[start:], d.colours[start:]
    rect, expected = _expected(server, green)
    signal = np.array([_card_signal(f, green, rect) for f in frames])
    full = float(signal.max())
    assert full > 60, f"no card in the program: {signal.round(1).tolist()}"
    on = np.flatnonzero(signal > 0.9 * full)
    first, last = int(on[0]), int(on[-1])
    assert last - first >= 45, "card not on air for the ~2 s between show and hide"
    assert signal[:first].min() < 3 and signal[-10:].max() < 3, "green before and after the card"
    # Animation: the card fades and slides in and out over several frames (~300 ms), not in one cut.
    rising = signal[:first]
    falling = signal[last + 1 :]
    assert ((rising > 0.1 * full) & (rising < 0.9 * full)).sum() >= 3, signal.round(1).tolist()
    assert ((falling > 0.1 * full) & (falling < 0.9 * full)).sum() >= 3, signal.round(1).tolist()
    # The middle of the picture never changed: the card is drawn in its region only.
    assert all(c == "green" for c in colours)

    # The card's own pixels, after a real encode and decode: close to what was blended in.
    x, y, w, h = rect
    steady = frames[(first + last) // 2]
    got = steady[y : y + h, x : x + w].astype(int)
    want = expected[y : y + h, x : x + w].astype(int)
    assert np.abs(got - want).mean() < 8, np.abs(got - want).mean()
    assert np.abs(got - green[y : y + h, x : x + w]).mean() > 30
