"""Timed metadata on WHEP: an aiortc viewer that opens a data channel in its offer gets each
card cue as a JSON message, alongside the program's video (which shows the card)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tests.conftest import Server
from tests.mixer.test_whep import WhepClient, _wait
from tests.whipclient import AiortcPublisher

BASE = "/api/shows/test-show"


async def test_a_whep_viewer_gets_card_cues_on_its_data_channel(server: Server) -> None:
    publisher = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "green")
    viewer = WhepClient(f"{server.url}/whep/test-show")
    channel = viewer.pc.createDataChannel("cues")
    messages: list[tuple[float, dict[str, Any]]] = []
    channel.on("message", lambda text: messages.append((time.monotonic(), json.loads(text))))
    try:
        await server.go_live(publisher)
        await viewer.start()
        assert "m=application" in viewer.answer
        await _wait(lambda: channel.readyState == "open" and len(viewer.video) > 10, 10, "data channel and video")
        status, body = await server.api("POST", f"{BASE}/cards", json={"product": "soup", "slot": "main"})
        assert status == 200, body
        status, body = await server.api("PATCH", f"{BASE}/products/soup", json={"stock": 7})
        assert status == 200, body
        assert (await server.api("DELETE", f"{BASE}/cards/main"))[0] == 200
        assert (await server.api("POST", f"{BASE}/panic"))[0] == 200
        await asyncio.sleep(0.5)  # (a panic lifted within one frame never reaches the picture)
        assert (await server.api("POST", f"{BASE}/unpanic"))[0] == 200
        await _wait(lambda: len(messages) >= 5, 10, f"five cues: {messages}")
        _, state = await server.api("GET", f"{BASE}")
    finally:
        await viewer.stop(server.url)
        await publisher.stop()
    events = [m["event"] for _, m in messages]
    assert events == ["card.shown", "stock.changed", "card.hidden", "broadcast.panic", "broadcast.panic"], messages
    assert [m["on"] for _, m in messages[3:]] == [True, False]
    shown, stock = messages[0][1], messages[1][1]
    assert shown["product"]["id"] == "soup" and shown["product"]["price"] == 39.9
    assert stock["product"]["stock"] == 7 and stock["previous"]["stock"] is None
    # Two quick commands may land on one frame; the order is kept either way.
    assert shown["stream_time"] <= stock["stream_time"] <= messages[2][1]["stream_time"]
    viewers = state["outputs"]["whep"]["viewer_list"]
    assert viewers and viewers[0]["cues_sent"] >= 2
