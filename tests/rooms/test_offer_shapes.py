"""Every honest offer is answered, or refused with a 4xx that names the reason before the
studio shows online (issue 9, observations 4-7): H.264 profiles and packetization modes,
RFC 8843/9725 BUNDLE shapes, offers without BUNDLE, mDNS-only candidates, trickle PATCH."""

from __future__ import annotations

import asyncio
import fractions
import random
import re
import subprocess
from collections.abc import Callable
from typing import Any

import aiohttp
import av
import numpy as np
import pytest
from aiortc import RTCSessionDescription
from aiortc.codecs.h264 import H264Encoder
from aiortc.mediastreams import MediaStreamTrack, VideoStreamTrack

from rooms.sdp import OfferError, bundle_offer, usable_candidate, without_unusable_candidates
from tests import sdpshapes
from tests.conftest import Server
from tests.studioprocess import spawn_test_studio
from tests.whipclient import ColourTrack, ToneTrack, TrackPublisher

SDPFRAG = "application/trickle-ice-sdpfrag"


def _studio(state: dict[str, Any], studio: str = "alpha") -> dict[str, Any]:
    return next(s for s in state["studios"] if s["id"] == studio)


async def _frames(server: Server, video: int = 20, audio: int = 0, studio: str = "alpha") -> dict[str, Any]:
    state = await server.wait_for(
        lambda s: (
            (_studio(s, studio)["stats"] or {}).get("video_frames", 0) >= video
            and (_studio(s, studio)["stats"] or {}).get("audio_frames", 0) >= audio
        ),
        timeout=30,
    )
    return _studio(state, studio)


def _publisher(server: Server, studio: str = "alpha", *tracks: MediaStreamTrack) -> TrackPublisher:
    tracks = tracks or (ColourTrack("red", 320, 180), ToneTrack(440))
    return TrackPublisher(server.url, "test-show", studio, server.token(studio), *tracks)


# -- H.264: every profile and packetization mode we decode ------------------------------------------
@pytest.mark.parametrize(
    "fmtp",
    [
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f",  # Main
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f",  # Constrained High
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640028",  # High 4.0
        "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",  # mode 0
        "profile-level-id=42001f",  # no packetization-mode: mode 0
        None,  # no fmtp at all (RFC 6184: Baseline, mode 0)
    ],
)
async def test_h264_formats_are_answered_with_their_own_parameters(server: Server, fmtp: str | None) -> None:
    pub = _publisher(server)
    try:
        await pub.pc.setLocalDescription(await pub.pc.createOffer())
        offer = sdpshapes.only_h264(pub.pc.localDescription.sdp, fmtp)
        status, answer, location = await sdpshapes.post_offer(server, "alpha", offer)
        pub.location = location
        assert status == 201, answer
        # RFC 6184 8.2.2: profile and packetization-mode are kept as offered (or the format dropped).
        answered = sdpshapes.h264_fmtp(answer)
        assert answered is not None, answer
        for key, value in re.findall(r"([\w-]+)=(\w+)", fmtp or ""):
            assert f"{key}={value}" in answered, (fmtp, answered)
        assert "packetization-mode=1" not in answered or "packetization-mode=1" in (fmtp or "")
    finally:
        await pub.stop()


@pytest.mark.parametrize(
    ("fmtp", "why"),
    [
        ("packetization-mode=2;profile-level-id=42e01f", "interleaved mode"),
        ("packetization-mode=1;profile-level-id=f4001f", "High 4:4:4"),
        ("packetization-mode=1;profile-level-id=zz", "not a profile"),
    ],
)
async def test_h264_formats_we_cannot_decode_are_refused_clearly(server: Server, fmtp: str, why: str) -> None:
    pub = _publisher(server, "alpha", ColourTrack("red", 320, 180))  # video only: nothing else to answer
    try:
        await pub.pc.setLocalDescription(await pub.pc.createOffer())
        offer = sdpshapes.only_h264(pub.pc.localDescription.sdp, fmtp)
        offer = re.sub(r"(m=video \S+ \S+) .*", lambda m: m.group(1) + " " + _h264_pts(offer), offer)
        status, text, _ = await sdpshapes.post_offer(server, "alpha", _drop_vp8(offer))
        assert status == 400 and "cannot answer" in text, (why, status, text)
        _, state = await server.api("GET", "/api/shows/test-show")
        assert not _studio(state)["online"]
    finally:
        await pub.pc.close()


def _h264_pts(offer: str) -> str:
    video = next(m for m in sdpshapes.split(offer)[1] if m[0].startswith("m=video"))
    return " ".join(video[0].split()[3:])


def _drop_vp8(offer: str) -> str:
    session, media = sdpshapes.split(offer)
    for section in media:
        vp8 = {m.group(1) for x in section if (m := re.match(r"a=rtpmap:(\d+) VP8/", x))}
        vp8 |= {m.group(1) for x in section for pt in vp8 if (m := re.match(rf"a=fmtp:(\d+) apt={pt}$", x))}
        section[:] = [
            x for x in section if not (m := re.match(r"a=(?:rtpmap|fmtp|rtcp-fb):(\d+) ", x)) or m.group(1) not in vp8
        ]
        fields = section[0].split()
        section[0] = " ".join(fields[:3] + [pt for pt in fields[3:] if pt not in vp8])
    return sdpshapes.join(session, media)


class MainProfileSlices(MediaStreamTrack):
    """H.264 Main profile, every NAL unit under 1100 bytes (x264 slice-max-size): already-encoded
    packets for aiortc to send, as a single-NAL-unit (packetization-mode=0) encoder would."""

    kind = "video"

    def __init__(self, width: int = 320, height: int = 180, fps: int = 30) -> None:
        super().__init__()
        self._clock = VideoStreamTrack()  # its pacing (next_timestamp) only
        self._codec = av.CodecContext.create("libx264", "w")
        self._codec.width, self._codec.height, self._codec.pix_fmt = width, height, "yuv420p"
        self._codec.time_base = fractions.Fraction(1, 90000)
        self._codec.framerate = fractions.Fraction(fps, 1)
        self._codec.options = {
            "profile": "main",
            "preset": "veryfast",
            "tune": "zerolatency",
            "x264-params": f"bframes=0:keyint={fps}:slice-max-size=1100",
        }
        self._n = 0
        self._size = (height, width)

    async def recv(self) -> av.Packet:  # type: ignore[override]
        while True:
            pts, time_base = await self._clock.next_timestamp()
            y = np.add.outer(np.arange(self._size[0]), np.arange(self._size[1]) + self._n * 4) % 256
            rgb = np.stack([y, np.full_like(y, 90), 255 - y], axis=-1).astype(np.uint8)  # moving: real slices
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = pts, time_base
            self._n += 1
            packets = self._codec.encode(frame)
            if packets:
                data = b"".join(bytes(p) for p in packets)
                packet = av.Packet(data)
                packet.pts, packet.time_base = pts, time_base
                return packet


async def test_main_profile_single_nal_unit_publisher_is_decoded(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real sender in packetization-mode 0: every RTP packet carries one whole NAL unit."""
    nal_types: set[int] = set()

    def single_nal_units(cls: type[H264Encoder], packages: Any) -> list[bytes]:
        units = [bytes(p) for p in packages]
        assert all(len(u) <= 1200 for u in units), [len(u) for u in units]
        nal_types.update(u[0] & 0x1F for u in units)
        return units

    # The publisher's packetizer (this process has no other H.264 sender): no STAP-A, no FU-A.
    monkeypatch.setattr(H264Encoder, "_packetize", classmethod(single_nal_units))
    fmtp = "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f"
    own: dict[str, str] = {}

    def shape(offer: str) -> str:
        own["fmtp"] = sdpshapes.h264_fmtp(offer) or ""  # the format only_h264 keeps (the first)
        return _drop_vp8(sdpshapes.only_h264(offer, fmtp))

    pub = _publisher(server, "alpha", MainProfileSlices(), ToneTrack(440))
    try:
        answer = await sdpshapes.publish_shaped(
            server, pub, shape, lambda a: sdpshapes.restore_h264_fmtp(a, own["fmtp"])
        )
        assert (sdpshapes.h264_fmtp(answer) or "").startswith(fmtp + ";x-google"), answer
        studio = await _frames(server, video=45)
        assert studio["stats"]["codec"] == "H264" and studio["stats"]["resolution"] == "320x180", studio
        assert nal_types >= {1, 5, 7, 8} and not nal_types & {24, 28}, nal_types  # slices, IDR, SPS, PPS only
    finally:
        await pub.stop()


@pytest.mark.parametrize("profile", ["main", "high"])
async def test_ffmpeg_whip_main_and_high_profile(server: Server, profile: str) -> None:
    """FFmpeg's WHIP muxer offers the profile its SPS says (4d..., 64...): both are decoded."""
    studio = spawn_test_studio(
        server, "alpha", pattern="red", width=320, height=180, bitrate=300_000, profile=profile, stderr=subprocess.PIPE
    )
    try:
        alpha = await _frames(server, video=30, audio=20)
        assert alpha["stats"]["codec"] == "H264" and alpha["stats"]["resolution"] == "320x180", alpha
    finally:
        studio.terminate()
        _, err = await asyncio.to_thread(studio.communicate, timeout=15)
    assert b"refused" not in err, err.decode(errors="replace")


# -- BUNDLE ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape",
    [sdpshapes.bundle_only, sdpshapes.session_level_transport, sdpshapes.video_tagged],
    ids=["rfc9725-bundle-only", "session-level-transport", "video-tagged"],
)
async def test_bundle_shapes_connect_and_deliver_audio_and_video(server: Server, shape: Callable[[str], str]) -> None:
    pub = _publisher(server)
    try:
        await sdpshapes.publish_shaped(server, pub, shape)
        studio = await _frames(server, video=20, audio=20)
        assert studio["online"], studio
    finally:
        await pub.stop()


@pytest.mark.parametrize("audio_first", [True, False])
async def test_offer_without_bundle_is_refused_before_anything_is_online(server: Server, audio_first: bool) -> None:
    tracks = (ToneTrack(440), ColourTrack("red", 320, 180))
    pub = _publisher(server, "alpha", *(tracks if audio_first else tracks[::-1]))
    try:
        await pub.pc.setLocalDescription(await pub.pc.createOffer())
        status, text, _ = await sdpshapes.post_offer(server, "alpha", sdpshapes.no_bundle(pub.pc.localDescription.sdp))
        assert status == 400 and "BUNDLE" in text, (status, text)
        _, state = await server.api("GET", "/api/shows/test-show")
        assert not _studio(state)["online"] and _studio(state)["stats"] is None
        _, events = await server.api("GET", "/api/shows/test-show/events")
        assert not any(e["kind"] == "studio.joined" for e in events["events"]), events
    finally:
        await pub.pc.close()


# -- mDNS candidates -------------------------------------------------------------------------------
async def test_mdns_only_offer_connects_through_peer_reflexive_candidates(server: Server) -> None:
    pub = _publisher(server)
    try:
        shaped: dict[str, str] = {}

        def shape(offer: str) -> str:
            shaped["offer"] = sdpshapes.mdns_only(offer)
            return shaped["offer"]

        answer = await sdpshapes.publish_shaped(server, pub, shape)
        assert ".local " in shaped["offer"] and " 127.0.0.1 " not in shaped["offer"]
        assert re.search(r"a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 \d+ typ host", answer), answer
        studio = await _frames(server, video=20, audio=20)
        assert studio["stats"]["state"] == "connected", studio
    finally:
        await pub.stop()


async def test_trickle_patch_never_fails_on_candidates_it_cannot_use(server: Server) -> None:
    pub = _publisher(server)
    auth = {"Authorization": f"Bearer {server.token('alpha')}"}
    try:
        await pub.pc.setLocalDescription(await pub.pc.createOffer())
        offer = pub.pc.localDescription.sdp
        # Firefox's shape: its mDNS name in c= and a=rtcp: (a PATCH once read it back: 500).
        firefox = sdpshapes.without_candidates(sdpshapes.mdns_only(offer))
        assert any(x.startswith("a=rtcp:") and x.endswith(".local") for x in firefox.splitlines()), firefox
        status, answer, location = await sdpshapes.post_offer(server, "alpha", firefox)
        assert status == 201 and location, answer
        pub.location = location
        lines = offer.splitlines()
        creds = [x for x in lines if x.startswith(("a=ice-ufrag:", "a=ice-pwd:"))][:2]
        mdns = [x for x in sdpshapes.mdns_only(offer).splitlines() if x.startswith("a=candidate:")]
        etag = f'"{location.rsplit("/", 1)[1]}"'  # the session id (rooms/whipsession.py)
        async with aiohttp.ClientSession() as http:

            async def patch(body: str) -> tuple[int, str, str]:
                headers = {**auth, "Content-Type": SDPFRAG, "If-Match": etag}
                async with http.patch(server.url + location, data=body, headers=headers) as r:
                    return r.status, r.headers.get("Content-Type", ""), await r.text()

            frag = "\r\n".join([*creds, "m=audio 9 UDP/TLS/RTP/SAVPF 0", "a=mid:0", *mdns, "a=end-of-candidates"])
            assert (await patch(frag + "\r\n"))[0] == 204
            for bad in (
                "a=candidate:garbage",
                "a=candidate:1 1 udp x 1.2.3.4 5 typ host",
                "a=candidate:1 1 tcp 1 ::1 9 typ host",
            ):
                assert (await patch("\r\n".join([*creds, bad]) + "\r\n"))[0] == 204, bad
            status, ctype, text = await patch("this is not SDP")
            assert status == 400 and "json" in ctype, (status, ctype, text)
        # The host's real address is learnt from its checks: the session connects.
        await pub.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        studio = await _frames(server, video=20)
        assert studio["online"]
    finally:
        await pub.stop()


# -- the text edits on their own --------------------------------------------------------------------
_SECTION = "m={kind} {port} UDP/TLS/RTP/SAVPF 96\r\na=mid:{mid}\r\na=rtcp-mux\r\n"
_TRANSPORT = "a=ice-ufrag:u\r\na=ice-pwd:p\r\na=fingerprint:sha-256 AA\r\na=setup:actpass\r\n"


def test_bundle_offer_completes_bundled_sections_and_refuses_unbundled_media() -> None:
    head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    audio = _SECTION.format(kind="audio", port=9, mid="a") + _TRANSPORT
    video = _SECTION.format(kind="video", port=0, mid="v") + "a=bundle-only\r\n"
    done = bundle_offer(head + "a=group:BUNDLE a v\r\n" + audio + video)
    video_part = done.split("m=video", 1)[1]
    assert all(x in video_part for x in ("a=ice-ufrag:u", "a=ice-pwd:p", "a=fingerprint:sha-256 AA", "a=setup:actpass"))
    # Session-level transport is aiortc's own business: nothing is copied then.
    session_level = bundle_offer(head + _TRANSPORT + "a=group:BUNDLE a v\r\n" + audio.replace(_TRANSPORT, "") + video)
    assert session_level.count("a=ice-ufrag:") == 1
    with pytest.raises(OfferError, match="names no BUNDLE group"):
        bundle_offer(head + audio + video.replace("m=video 0", "m=video 9"))
    with pytest.raises(OfferError, match=r"leaves video \(mid v\) out of its BUNDLE group"):
        bundle_offer(head + "a=group:BUNDLE a\r\n" + audio + video.replace("m=video 0", "m=video 9"))
    # One section, or a rejected second one (port 0, not bundle-only): one transport anyway.
    assert bundle_offer(head + audio) == head + audio
    rejected = _SECTION.format(kind="video", port=0, mid="v")
    assert bundle_offer(head + audio + rejected) == head + audio + rejected


def test_unusable_candidates_are_left_out() -> None:
    host = "a=candidate:1 1 udp 2130706431 192.0.2.7 50000 typ host"
    mdns = "a=candidate:2 1 udp 2130706431 0f1e2d3c-aaaa-bbbb-cccc-0123456789ab.local 50001 typ host"
    tcp = "a=candidate:3 1 tcp 1518280447 192.0.2.7 9 typ host tcptype active"
    assert usable_candidate(host) and usable_candidate(host[2:])
    assert not usable_candidate(mdns) and not usable_candidate(tcp) and not usable_candidate("a=candidate:x")
    assert not usable_candidate("a=candidate:1 1 udp 1 studio.example.org 5 typ host")
    section = "m=audio 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"
    mixed = without_unusable_candidates(f"v=0\r\n{section}{host}\r\n{mdns}\r\na=end-of-candidates\r\n")
    assert host in mixed and mdns not in mixed and "a=end-of-candidates" in mixed
    # Nothing usable left: no end-of-candidates either, so ICE waits for the host's own checks.
    only_mdns = without_unusable_candidates(f"v=0\r\n{section}{mdns}\r\n{tcp}\r\na=end-of-candidates\r\n")
    assert "a=candidate" not in only_mdns and "a=end-of-candidates" not in only_mdns
    # A host name where aiortc wants an address (Firefox's c= and a=rtcp:) becomes 0.0.0.0.
    named = "c=IN IP4 0f1e.local\r\na=rtcp:9 IN IP4 0f1e.local\r\n"
    addressed = "c=IN IP6 ::1\r\na=rtcp:9 IN IP4 192.0.2.7\r\nc=IN IP4 233.252.0.1/127\r\n"
    assert without_unusable_candidates(f"v=0\r\n{section}{named}") == (
        f"v=0\r\n{section}c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
    )
    assert without_unusable_candidates(f"v=0\r\n{section}{addressed}") == f"v=0\r\n{section}{addressed}"


def test_bundle_group_naming_a_missing_section_is_refused() -> None:
    head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    audio = _SECTION.format(kind="audio", port=9, mid="a") + _TRANSPORT
    with pytest.raises(OfferError, match="names mid v, which no m= section"):
        bundle_offer(head + "a=group:BUNDLE v a\r\n" + audio)


async def test_mangled_offers_are_answered_or_refused_never_crash(server: Server) -> None:
    """Seeded mutations of real offers in every shape above: 201 or a 4xx with a reason."""
    pub = _publisher(server)
    await pub.pc.setLocalDescription(await pub.pc.createOffer())
    base = pub.pc.localDescription.sdp
    await pub.pc.close()
    shapes = [sdpshapes.bundle_only, sdpshapes.no_bundle, sdpshapes.mdns_only, sdpshapes.video_tagged, str]
    rnd = random.Random(9725)
    statuses: dict[int, int] = {}
    for _ in range(60):
        lines = rnd.choice(shapes)(base).splitlines()
        for _ in range(rnd.randint(1, 4)):
            i = rnd.randrange(len(lines))
            cut = rnd.random()
            if cut < 0.3:
                del lines[i]
            elif cut < 0.6:
                lines[i] = lines[i][: rnd.randrange(len(lines[i]) + 1)]
            elif cut < 0.8:
                lines.insert(i, rnd.choice(lines))
            else:
                lines[i] = lines[i].replace(rnd.choice("0123456789"), rnd.choice(["", "x", "99999", ":", " "]))
        status, text, location = await sdpshapes.post_offer(server, "alpha", "\r\n".join(lines) + "\r\n")
        statuses[status] = statuses.get(status, 0) + 1
        assert status in (201, 400), (status, text)
        if status == 400:
            assert text.strip(), "a refusal names its reason"
    assert statuses.get(201) and statuses.get(400), statuses
    # The server is fine afterwards: an honest publisher connects.
    good = _publisher(server)
    try:
        await good.start()
        assert (await _frames(server, video=10))["online"]
    finally:
        await good.stop()
