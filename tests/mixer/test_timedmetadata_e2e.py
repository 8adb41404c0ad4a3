"""Product data in sync with the picture, through the whole server: an aiortc studio sends green,
the crew puts a card on air, changes its price and takes it off; the HTTP-FLV output carries
``onCuePoint`` script tags, the HLS output ID3 PES packets and EXT-X-DATERANGE tags, and a
webhook receiver gets each event signed, in order, retried after a 500. Each cue is checked
against the decoded picture: it must sit within one frame of where the card starts to move."""

from __future__ import annotations

import asyncio
import io
import json
import re
import struct
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import pytest
from aiohttp import web

from mixer.outputs.id3 import DESCRIPTION, parse_id3
from orchestrator.webhook import SIGNATURE_HEADER, verify
from tests.conftest import make_config, serve
from tests.mediacheck import without_cue_points
from tests.mixer.test_cards_end_to_end import _card_signal, _expected, green_program_pulled

BASE = "/api/shows/test-show"
SECRET = "webhook-secret-0123456789"
FRAME = 1 / 30


# --- what the outputs carry -------------------------------------------------------------------


def flv_cues(flv: bytes) -> list[tuple[int, dict[str, Any]]]:
    """(timestamp ms, cue) of every onCuePoint script tag, parsed from the bytes."""
    out = []
    pos = 13
    while pos + 11 <= len(flv):
        kind, size = flv[pos], int.from_bytes(flv[pos + 1 : pos + 4], "big")
        ts = int.from_bytes(flv[pos + 4 : pos + 7], "big") | (flv[pos + 7] << 24)
        body = flv[pos + 11 : pos + 11 + size]
        if len(body) < size:
            break
        if kind == 18 and body[3 : 3 + 10] == b"onCuePoint":
            # The JSON is the one AMF0 long-enough string: find 'json' then its string value.
            at = body.index(b"\x00\x04json\x02") + 7
            length = struct.unpack(">H", body[at : at + 2])[0]
            out.append((ts, json.loads(body[at + 2 : at + 2 + length])))
        pos += 11 + size + 4
    return out


def flv_frames(flv: bytes) -> tuple[list[int], list[np.ndarray]]:
    with av.open(io.BytesIO(without_cue_points(flv)), format="flv") as container:
        frames = list(container.decode(video=0))
        return [int(f.pts) for f in frames], [f.to_ndarray(format="yuv420p") for f in frames]


def pmt_has_id3_stream(ts: bytes) -> bool:
    """The PMT lists a stream_type 0x15 PES with an 'ID3 ' format identifier (Apple timed metadata)."""
    for i in range(0, len(ts) - 188 + 1, 188):
        packet = ts[i : i + 188]
        if packet[0] != 0x47 or not packet[1] & 0x40:
            continue
        payload = packet[4 + (packet[4] + 1 if packet[3] & 0x20 else 0) :]
        section = payload[1 + payload[0] :]
        if section[:1] == b"\x02":  # a PMT
            return b"\x15" in section and b"ID3 " in section
    return False


Cue = tuple[float, dict[str, Any]]


def ts_cues_and_frames(ts_files: list[bytes]) -> tuple[list[Cue], list[float], list[np.ndarray]]:
    cues: list[tuple[float, dict[str, Any]]] = []
    pts: list[float] = []
    frames: list[np.ndarray] = []
    for data in ts_files:
        with av.open(io.BytesIO(data), format="mpegts") as container:
            video = container.streams.video[0]
            streams = [video, *[s for s in container.streams if s.type == "data"]]
            for packet in container.demux(*streams):
                if packet.stream.type == "data" and packet.size:
                    text = parse_id3(bytes(packet))[DESCRIPTION]
                    cues.append((float(packet.pts * packet.time_base), json.loads(text)))
                elif packet.stream.type == "video":
                    for frame in packet.decode():
                        pts.append(float(frame.pts * frame.time_base))
                        frames.append(frame.to_ndarray(format="yuv420p"))
    return cues, pts, frames


def daterange_cues(playlist: str) -> list[tuple[float, dict[str, Any]]]:
    out = []
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-DATERANGE:"):
            start = re.search(r'START-DATE="([^"]+)"', line)
            payload = re.search(r"X-PAYLOAD=0x([0-9a-f]+)", line)
            assert start and payload, line
            when = datetime.fromisoformat(start.group(1).replace("Z", "+00:00")).timestamp()
            out.append((when, json.loads(bytes.fromhex(payload.group(1)))))
    return out


def first_change(signal: np.ndarray, start: int, rising: bool, full: float) -> int:
    """Index of the first frame from ``start`` where the card starts to come (or go)."""
    for i in range(start, len(signal)):
        if (rising and signal[i] > 0.05 * full) or (not rising and signal[i] < 0.97 * full):
            return i
    raise AssertionError("no change in the picture")


# --- the webhook receiver ---------------------------------------------------------------------


class Receiver:
    """A commerce back-end: answers the very first delivery with 500, then 200."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes, int]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = 500 if not self.calls else 200
        self.calls.append((dict(request.headers), body, status))
        return web.Response(status=status)


@pytest.fixture
async def receiver(aiohttp_server: Any) -> tuple[Receiver, str]:
    rx = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rx.handle)
    srv = await aiohttp_server(app, host="127.0.0.1")
    return rx, str(srv.make_url("/hook"))


async def test_card_cues_are_in_every_output_at_the_frame_and_signed_on_the_webhook(
    tmp_path: Path, aiohttp_server: Any, receiver: tuple[Receiver, str]
) -> None:
    rx, hook_url = receiver
    config = make_config(tmp_path, webhook_url=hook_url, webhook_secret=SECRET)
    server = await serve(aiohttp_server, config)
    async with green_program_pulled(server) as pull:
        flv = pull.data
        status, body = await server.api("POST", f"{BASE}/cards", json={"product": "soup", "slot": "main"})
        assert status == 200, body
        await asyncio.sleep(1.5)
        status, body = await server.api("PATCH", f"{BASE}/products/soup", json={"price": 29.9, "confirm_price": True})
        assert status == 200, body
        await asyncio.sleep(1.0)
        assert (await server.api("DELETE", f"{BASE}/cards/main"))[0] == 200
        await asyncio.sleep(2.5)  # the hide and a second after it in the pulled FLV
        await pull.stop()
        async with aiohttp.ClientSession() as http, asyncio.timeout(15):
            while True:  # polled until the segment with the hide is listed (later on a loaded box)
                async with http.get(f"{server.url}/live/test-show/index.m3u8") as res:
                    playlist = await res.text()
                if "card.hidden" in [c["event"] for _, c in daterange_cues(playlist)]:
                    break
                await asyncio.sleep(0.2)
            segments = []
            for line in playlist.splitlines():
                if line and not line.startswith("#"):
                    async with http.get(f"{server.url}/live/test-show/{line}") as res:
                        segments.append(await res.read())
        async with asyncio.timeout(15):  # the webhook: one 500, then the three events
            while len(rx.calls) < 4:
                await asyncio.sleep(0.1)

    events = ["card.shown", "price.changed", "card.hidden"]

    # HTTP-FLV: script tags with the events, in order, at the frames where the card moves.
    cues = flv_cues(bytes(flv))
    assert [c["event"] for _, c in cues] == events, cues
    shown = cues[0][1]
    assert shown["product"] == {
        "id": "soup",
        "name": "汪集鸡汤",
        "enterprise": "汪集",
        "price": 39.9,
        "was_price": 59.9,
        "stock": None,
        "sold": None,
        "buy_url": "",
    }
    assert cues[1][1]["product"]["price"] == 29.9 and cues[1][1]["previous"] == {"price": 39.9}
    pts, frames = await asyncio.to_thread(flv_frames, bytes(flv))
    shown_ms, hidden_ms = cues[0][0], cues[2][0]
    reference = next(i for i, p in enumerate(pts) if p >= shown_ms - 200)  # the picture before the card
    green = frames[reference]
    rect, _ = _expected(server, green)
    signal = np.array([_card_signal(f, green, rect) for f in frames])
    full = float(signal[reference:].max())  # from the green picture on (the stream may open on the slate)
    assert full > 60
    appear = first_change(signal, reference, True, full)
    on = appear + int(np.flatnonzero(signal[appear:] > 0.97 * full)[0])
    leave = first_change(signal, on, False, full)
    # Within one frame (33 ms) of the picture change; frames a loaded encoder dropped do not
    # count (the frame before the change is not after the cue).
    assert pts[appear] >= shown_ms - 34 and pts[appear - 1] <= shown_ms, (pts[appear - 1], pts[appear], shown_ms)
    # Leaving eases out (1 - q^3, mixer/graphics/motion.py): the first two frames of the exit
    # differ from the steady card by under 1.2%, so the visible change comes 2-3 frames after
    # the cue, never before it.
    assert 0 <= pts[leave] - hidden_ms <= 4 * 34, (pts[leave], hidden_ms)
    before = pts.index(next(p for p in pts if p >= hidden_ms)) - 1
    assert signal[before] > 0.97 * full, "the card is fully on air on the frame before the hide cue"

    # HLS: the PMT announces timed ID3; the ID3 cues sit at the same frames; DATERANGEs match.
    assert pmt_has_id3_stream(segments[0])
    ts_cues, ts_pts, ts_frames = await asyncio.to_thread(ts_cues_and_frames, segments)
    assert [c["event"] for _, c in ts_cues] == events, ts_cues
    ts_signal = np.array([_card_signal(f, green, rect) for f in ts_frames])
    ts_reference = next(i for i, p in enumerate(ts_pts) if p >= ts_cues[0][0] - 0.2)
    ts_appear = first_change(ts_signal, ts_reference, True, full)
    assert abs(ts_pts[ts_appear] - ts_cues[0][0]) <= FRAME + 0.001, (ts_pts[ts_appear], ts_cues[0][0])
    ranges = daterange_cues(playlist)
    assert [c["event"] for _, c in ranges] == events, playlist
    for (when, cue), (_, ts_cue) in zip(ranges, ts_cues, strict=True):
        assert cue == ts_cue
        assert abs(when - datetime.fromisoformat(cue["program_date_time"].replace("Z", "+00:00")).timestamp()) < 0.002
    # The DATERANGE date is the program date time of the frame: the playlist's PDT + offset.
    pdt = re.search(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)", playlist)
    assert pdt is not None

    # Webhook: signed, the 500 retried with the same delivery id, then the events in order.
    statuses = [status for _, _, status in rx.calls]
    assert statuses[:2] == [500, 200], statuses
    first, retry = rx.calls[0], rx.calls[1]
    assert first[0]["X-Broadcast-Delivery"] == retry[0]["X-Broadcast-Delivery"]
    delivered = [json.loads(body) for _, body, status in rx.calls if status == 200]
    assert [d["event"] for d in delivered] == events
    for headers, body, _ in rx.calls:
        assert verify(SECRET, headers[SIGNATURE_HEADER], body)
        assert not verify("another-secret-0123456", headers[SIGNATURE_HEADER], body)
        assert not verify(SECRET, headers[SIGNATURE_HEADER], body + b" ")
    assert delivered[0]["show"] == "test-show"
    assert delivered[0]["stream_time"] == cues[0][1]["stream_time"]
    assert delivered[0]["product"]["id"] == "soup"
