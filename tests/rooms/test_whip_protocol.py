"""WHIP beyond POST/DELETE (RFC 9725): trickle ICE by PATCH, ETags, ICE restart refused
with the RFC's status, CORS, ICE server Link headers; and the ICE settings of a real
deployment: codec preference, an announced public address and a UDP port range."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiortc import RTCSessionDescription

from orchestrator.app import create_app
from orchestrator.appkeys import SHOWS
from orchestrator.config import Config, IceServer, Ingest
from rooms.sdp import add_bitrate_hints, announce_public_address, candidate_ports, parse_sdpfrag
from rooms.whipsession import WhipSession
from tests.conftest import Server, make_config
from tests.whipclient import AiortcPublisher

SDPFRAG = "application/trickle-ice-sdpfrag"


def _with_server(config: Config, **changes: Any) -> Config:
    return dataclasses.replace(config, server=dataclasses.replace(config.server, **changes))


async def _start(aiohttp_server: Any, config: Config) -> tuple[Server, Any]:
    srv = await aiohttp_server(create_app(config), host="127.0.0.1")
    return Server.of(srv, config), srv.app


def _frag(sdp: str) -> str:
    """The trickle fragment a client would PATCH: credentials, first m= line, its mid, candidates."""
    lines = sdp.splitlines()
    ufrag = next(x for x in lines if x.startswith("a=ice-ufrag:"))
    pwd = next(x for x in lines if x.startswith("a=ice-pwd:"))
    mline = next(x for x in lines if x.startswith("m="))
    mid = next(x for x in lines if x.startswith("a=mid:"))
    cands = [x for x in lines if x.startswith("a=candidate:")]
    return "\r\n".join([ufrag, pwd, mline, mid, *cands, "a=end-of-candidates"]) + "\r\n"


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "ingest-worker"])
async def test_trickle_patch_etag_and_restart(tmp_path: Path, aiohttp_server: Any, workers: int) -> None:
    config = dataclasses.replace(make_config(tmp_path), ingest=Ingest(workers=workers))
    server, app = await _start(aiohttp_server, config)
    token = server.token("alpha")
    auth = {"Authorization": f"Bearer {token}"}
    pub = AiortcPublisher(server.url, "test-show", "alpha", token, "red")
    await pub.pc.setLocalDescription(await pub.pc.createOffer())
    full_offer = pub.pc.localDescription.sdp
    # Offer without candidates: they follow by PATCH (trickle ICE).
    bare = "".join(x + "\r\n" for x in full_offer.splitlines() if not x.startswith(("a=candidate:", "a=end-of")))
    async with aiohttp.ClientSession() as http:
        async with http.post(pub.url, data=bare, headers={**auth, "Content-Type": "application/sdp"}) as res:
            assert res.status == 201, await res.text()
            location, etag = res.headers["Location"], res.headers["ETag"]
            assert res.headers["Accept-Patch"] == SDPFRAG
            assert res.headers["Access-Control-Allow-Origin"] == "*"
            assert "ETag" in res.headers["Access-Control-Expose-Headers"]
            answer = await res.text()
        resource = server.url + location
        frag = _frag(full_offer)

        async def patch(body: str, headers: dict[str, str]) -> tuple[int, str]:
            async with http.patch(resource, data=body, headers={**auth, **headers}) as r:
                return r.status, await r.text()

        assert (await patch(frag, {"Content-Type": SDPFRAG}))[0] == 428  # no If-Match
        assert (await patch(frag, {"Content-Type": SDPFRAG, "If-Match": '"stale"'}))[0] == 412
        assert (await patch(frag, {"Content-Type": "application/sdp", "If-Match": etag}))[0] == 415
        status, text = await patch(frag, {"Content-Type": SDPFRAG, "If-Match": "*"})
        assert status == 422 and "restart" in text.lower()  # ICE restart: unsupported, say so
        restart = re.sub(r"a=ice-ufrag:.*", "a=ice-ufrag:newU", frag)
        assert (await patch(restart, {"Content-Type": SDPFRAG, "If-Match": etag}))[0] == 422
        status, text = await patch(frag, {"Content-Type": SDPFRAG, "If-Match": etag})
        assert status == 204 and text == "", text
        # Wrong method on the resource, and a session that does not exist.
        async with http.get(resource, headers=auth) as r:
            assert r.status == 405 and "DELETE" in r.headers["Allow"]
        async with http.patch(
            resource[:-3] + "xyz", data=frag, headers={**auth, "Content-Type": SDPFRAG, "If-Match": etag}
        ) as r:
            assert r.status == 404
        # CORS preflight, as a browser on another origin sends it.
        async with http.options(resource, headers={"Origin": "https://other.example"}) as r:
            assert r.status == 204
            assert "PATCH" in r.headers["Access-Control-Allow-Methods"]
            assert "If-Match" in r.headers["Access-Control-Allow-Headers"]

    session = app[SHOWS]["test-show"].sessions["alpha"]
    if isinstance(session, WhipSession):  # in a worker, the candidates are the worker's to check
        ice = session.pc.getTransceivers()[0].receiver.transport.transport
        offered = set(candidate_ports(full_offer))
        assert offered and offered <= {c.port for c in ice.getRemoteCandidates()}
    await pub.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await server.wait_for(lambda s: (s["studios"][0]["stats"] or {}).get("video_frames", 0) > 5)
    await pub.stop()


async def test_link_headers_codec_public_address_and_ports(tmp_path: Path, aiohttp_server: Any) -> None:
    config = _with_server(
        make_config(tmp_path),
        ice_servers=(IceServer("turn:turn.example.org:3478", "host", "secret"),),
        ice_public_address="203.0.113.7",
        ice_port_min=41000,
        ice_port_max=41009,
        video_codec="vp8",
    )
    server, app = await _start(aiohttp_server, config)
    for runner in app[SHOWS].values():  # our own agent would try the (unreachable) TURN server
        runner.whip = dataclasses.replace(runner.whip, ice_servers=())
    pubs = []
    try:
        for studio, colour in (("alpha", "red"), ("bravo", "green")):
            pub = AiortcPublisher(server.url, "test-show", studio, server.token(studio), colour)
            await pub.pc.setLocalDescription(await pub.pc.createOffer())
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    pub.url,
                    data=pub.pc.localDescription.sdp,
                    headers={"Authorization": f"Bearer {pub.token}", "Content-Type": "application/sdp"},
                ) as res,
            ):
                assert res.status == 201
                links = res.headers.getall("Link")
                answer = await res.text()
                pub.location = res.headers["Location"]
            assert links == [
                '<turn:turn.example.org:3478>; rel="ice-server"; username="host"; credential="secret"; '
                'credential-type="password"'
            ]
            ports = candidate_ports(answer)
            assert ports and all(41000 <= p <= 41009 for p in ports), ports
            assert " 203.0.113.7 " in answer  # announced next to the host candidate
            assert "x-google-start-bitrate=1500" in answer
            await pub.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            pubs.append(pub)
        state = await server.wait_for(
            lambda s: all((st["stats"] or {}).get("codec") == "VP8" for st in s["studios"]), timeout=20
        )
        assert all(st["stats"]["video_frames"] > 0 for st in state["studios"])
    finally:
        for pub in pubs:
            await pub.stop()


async def test_h264_is_preferred(server: Server) -> None:
    pub = AiortcPublisher(server.url, "test-show", "alpha", server.token("alpha"), "blue")
    await pub.start()
    try:
        state = await server.wait_for(lambda s: (s["studios"][0]["stats"] or {}).get("codec") is not None)
        assert state["studios"][0]["stats"]["codec"] == "H264"
    finally:
        await pub.stop()


def test_sdp_edits() -> None:
    answer = (
        "v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
        "a=candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n"
        "a=fmtp:97 apt=96\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1\r\n"
    )
    hinted = add_bitrate_hints(answer, 1500, 600)
    assert "a=fmtp:96 x-google-start-bitrate=1500;x-google-min-bitrate=600\r\n" in hinted
    assert "a=fmtp:102 packetization-mode=1;x-google-start-bitrate=1500;x-google-min-bitrate=600" in hinted
    assert "a=fmtp:97 apt=96\r\n" in hinted  # retransmission carries no hints
    assert "opus/48000/2\r\na=candidate" in hinted  # audio untouched
    public = announce_public_address(answer, "203.0.113.7")
    assert "203.0.113.7 40000 typ srflx raddr 10.0.0.5 rport 40000" in public
    assert candidate_ports(public) == [40000, 40000]
    frag = parse_sdpfrag(
        "a=ice-ufrag:u\r\na=ice-pwd:p\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n"
        "a=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\na=end-of-candidates\r\n"
    )
    assert (frag.ufrag, frag.pwd, frag.candidates, frag.end_of_candidates) == (
        "u",
        "p",
        [("0", "candidate:1 1 udp 1 1.2.3.4 5 typ host")],
        True,
    )
    with pytest.raises(ValueError):
        parse_sdpfrag("hello")


def test_media_config_is_checked(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from orchestrator.config import ConfigError, validate

    base = make_config(tmp_path)
    for changes in (
        {"ice_port_min": 50000, "ice_port_max": 40000},
        {"ice_port_min": 80, "ice_port_max": 90},
        {"ice_public_address": "example.org"},
        {"video_codec": "av1"},
        {"tls_cert": "cert.pem"},
        {"ice_servers": (IceServer("turn:t.example.org"),)},
    ):
        # Refused either by the model as the value is set, or by validate() across fields.
        with pytest.raises((ConfigError, ValidationError)):
            validate(_with_server(base, **changes))
