"""Recording to fragmented MP4: started and stopped through the API, rotated by time,
and still playable after the server process is SIGKILLed mid-file.

Each file is decoded: constant frame rate, timestamps from 0, a keyframe every
second, audio (the AAC AudioSpecificConfig and the avcC built from the
keyframe's SPS/PPS are what make it decodable at all).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from mixer.encodedpacket import ProgramFormat
from mixer.outputs.recordingoutput import RecordingOutput
from mixer.programencoder import ProgramEncoder
from tests.conftest import OPERATOR, Server, make_config, serve
from tests.mediacheck import Decoded, assert_continuous, decode
from tests.ports import free_port
from tests.serverprocess import config_file, kill, spawn_server
from tests.whipclient import AiortcPublisher


@pytest.fixture
async def rec_server(tmp_path: Path, aiohttp_server: Any) -> Server:
    config = make_config(tmp_path, outputs={"recording_rotate_seconds": 2.0})
    return await serve(aiohttp_server, config)


def _check_file(path: Path, min_seconds: float) -> Decoded:
    got = decode(str(path))
    assert got.size == (640, 360)
    assert got.video_pts[0] < 0.05 and got.keyframes[0] == 0  # each file opens on a keyframe at 0
    assert_continuous(got, 30)
    seconds = len(got.video_pts) / 30
    assert seconds >= min_seconds, (path, seconds)
    return got


async def test_recording_rotates_and_every_file_decodes(rec_server: Server, tmp_path: Path) -> None:
    server = rec_server
    status, body = await server.api("GET", "/api/shows/test-show/recording")
    assert status == 200 and body["state"] == "off"
    status, body = await server.api("POST", "/api/shows/test-show/recording", json={"on": True})
    assert status == 200 and body["state"] in ("starting", "recording")
    await server.wait_for(lambda s: s["outputs"]["recording"]["state"] == "recording")
    await asyncio.sleep(1.0)
    # A studio joins, goes on air, drops out: the recording runs on through all of it.
    publisher = AiortcPublisher(server.url, "test-show", "bravo", server.token("bravo"), "green")
    try:
        await server.go_live(publisher, "bravo")
        await asyncio.sleep(2.5)
    finally:
        await publisher.stop()
    await server.wait_for(lambda s: s["on_air"] is None)
    await server.wait_for(lambda s: s["outputs"]["recording"]["files_written"] >= 4, timeout=15)
    status, body = await server.api("POST", "/api/shows/test-show/recording", json={"on": "yes"})
    assert status == 400
    _, state = await server.api("GET", "/api/shows/test-show")
    status, body = await server.api("POST", "/api/shows/test-show/recording", json={"on": False})
    assert status == 200 and body["state"] == "off"
    status, again = await server.api("POST", "/api/shows/test-show/recording", json={"on": False})
    assert status == 200 and again["state"] == "off"  # idempotent
    status, events = await server.api("GET", "/api/shows/test-show/events")
    kinds = [e["kind"] for e in events["events"]]
    assert kinds.count("recording.started") == 1 and kinds.count("recording.stopped") == 1

    rec = state["outputs"]["recording"]
    # About 30 fps: not 0, not double; a loaded box's encoder drops frames (24.5 seen at load 25).
    assert rec["up"] and rec["errors"] == 0 and rec["bitrate_bps"] > 0 and 18 <= rec["fps"] <= 35
    directory = tmp_path / "data" / "recordings" / "test-show"
    files = sorted(directory.glob("test-show-*.mp4"))
    assert len(files) == body["files_written"] >= 4
    assert [f["file"] for f in body["files"]] == [f.name for f in files]
    assert all(f["closed"] for f in body["files"])
    # Rotation on the first keyframe after 2 s: every file but the last is 2 s long.
    colours: list[str] = []
    for f in files[:-1]:
        got = await asyncio.to_thread(_check_file, f, 1.95)
        assert len(got.video_pts) / 30 < 2.05
        colours += got.colours
    last = await asyncio.to_thread(decode, str(files[-1]))  # cut short by the stop: decodes all the same
    assert last.video_pts and last.keyframes[:1] == [0]
    colours += last.colours
    # Slate, the studio, slate again: in order, across file boundaries, nothing missing.
    runs = [c for c, n in Decoded(colours=colours).runs() if n >= 15]
    assert runs[-3:] == ["other", "green", "other"], Decoded(colours=colours).runs()
    with av.open(str(files[0])) as container:
        audio = container.streams.audio[0]
        assert audio.sample_rate == 48000 and audio.time_base == Fraction(1, 48000)


def _get(port: int, path: str) -> Any:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {OPERATOR}"})
    with urllib.request.urlopen(req, timeout=5) as res:
        return json.loads(res.read())


def test_a_killed_writer_leaves_a_playable_file(tmp_path: Path) -> None:
    port = free_port()
    config = config_file(
        tmp_path,
        """
[[shows]]
id = "killed"
title = "Killed"
width = 640
height = 360
video_bitrate = 1000000
outputs = { hls = false, flv = false, whep = false, recording = true }
[[shows.studios]]
id = "alpha"
name = "Alpha"
""",
        listen_port=port,
    )
    server = spawn_server(config)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                state = _get(port, "/api/shows/killed")
                if state["outputs"]["recording"]["files"] and state["mixer"]["ticks"] > 30 * 3.5:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not record"
            time.sleep(0.2)
    finally:
        kill(server)  # mid-fragment: no trailer, nothing flushed at exit

    files = list((tmp_path / "data" / "recordings" / "killed").glob("*.mp4"))
    assert len(files) == 1
    with av.open(str(files[0])) as container:  # the moov is at the front
        assert container.streams.video[0].codec_context.extradata[:1] == b"\x01"  # avcC
        assert container.streams.audio[0].codec_context.extradata  # AudioSpecificConfig
    got = decode(str(files[0]))
    # Everything up to the last finished fragment (about a GOP before the kill) plays.
    assert len(got.video_pts) >= 2 * 30
    assert_continuous(got, 30)


def test_a_failing_disk_is_reported_and_never_reaches_the_encoder(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the recordings directory should be")
    recording = RecordingOutput(blocked / "show", "show", rotate_seconds=1)
    encoder = ProgramEncoder(ProgramFormat(width=320, height=180, fps=30), threads=1)
    encoder.add_sink(recording)
    luma = np.full((180 * 3 // 2, 320), 100, np.uint8)
    silence = np.zeros((1600, 2), np.int16)
    for n in range(75):  # three keyframes: three attempts
        encoder._encode(n, luma, silence)
    recording.close()
    status = recording.status()
    assert status["errors"] == 3 and "Error" in str(status["last_error"]), status
    assert status["files_written"] == 0 and status["state"] == "stopped"
