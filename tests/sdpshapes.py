"""Offers in the shapes real clients send, made from a real aiortc offer by editing its text.

aiortc (like Chromium) offers one BUNDLE group, ICE credentials and a fingerprint in every
section, and its gathered host candidates. Other clients differ: these functions produce
their shapes, so each test makes its own input.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable

import aiohttp
from aiortc import RTCSessionDescription

from tests.conftest import Server
from tests.whipclient import TrackPublisher

_TRANSPORT = ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:", "a=setup:")


def split(sdp: str) -> tuple[list[str], list[list[str]]]:
    """Session lines, then the lines of each m= section."""
    session: list[str] = []
    media: list[list[str]] = []
    for line in sdp.splitlines():
        if not line:
            continue
        if line.startswith("m="):
            media.append([])
        (media[-1] if media else session).append(line)
    return session, media


def join(session: list[str], media: list[list[str]]) -> str:
    return "".join(line + "\r\n" for line in [*session, *(x for m in media for x in m)])


def _mid(section: list[str]) -> str:
    return next(line[6:] for line in section if line.startswith("a=mid:"))


def only_h264(offer: str, fmtp: str | None) -> str:
    """The video section offers a single H.264 format (plus its RTX) with ``fmtp`` (None: no fmtp line)."""
    session, media = split(offer)
    video = next(m for m in media if m[0].startswith("m=video"))
    pts = [m.group(1) for line in video if (m := re.match(r"a=rtpmap:(\d+) H264/", line))]
    keep = pts[0]
    rtx = next(
        (m.group(1) for line in video if (m := re.match(rf"a=fmtp:(\d+) apt={keep}$", line))),
        None,
    )
    kept = {keep} | ({rtx} if rtx else set())
    out = []
    for line in video:
        m = re.match(r"a=(?:rtpmap|fmtp|rtcp-fb):(\d+) ", line)
        if m and m.group(1) not in kept:
            continue
        if line.startswith(f"a=fmtp:{keep} "):
            continue
        out.append(line)
        if line.startswith(f"a=rtpmap:{keep} ") and fmtp is not None:
            out.append(f"a=fmtp:{keep} {fmtp}")
    fields = out[0].split()
    out[0] = " ".join(fields[:3] + [pt for pt in fields[3:] if pt in kept])
    video[:] = out
    return join(session, media)


def h264_fmtp(answer: str) -> str | None:
    """The fmtp parameters of the answer's first H.264 format ('' when it has none)."""
    pt = next((m.group(1) for line in answer.splitlines() if (m := re.match(r"a=rtpmap:(\d+) H264/", line))), None)
    if pt is None:
        return None
    return next((line.split(" ", 1)[1] for line in answer.splitlines() if line.startswith(f"a=fmtp:{pt} ")), "")


def restore_h264_fmtp(answer: str, fmtp: str) -> str:
    """Give the answer's H.264 format ``fmtp`` again (what the publisher's own aiortc understands)."""
    pt = next(m.group(1) for line in answer.splitlines() if (m := re.match(r"a=rtpmap:(\d+) H264/", line)))
    lines = [line for line in answer.splitlines() if line and not line.startswith(f"a=fmtp:{pt} ")]
    at = next(i for i, line in enumerate(lines) if line.startswith(f"a=rtpmap:{pt} "))
    lines.insert(at + 1, f"a=fmtp:{pt} {fmtp}")
    return "".join(line + "\r\n" for line in lines)


def bundle_only(offer: str) -> str:
    """RFC 9725's example shape: sections after the first are ``a=bundle-only``, port 0, with
    no transport of their own (no ICE credentials, fingerprint, setup, candidates)."""
    session, media = split(offer)
    for section in media[1:]:
        section[0] = re.sub(r"^(m=\w+) \d+", r"\1 0", section[0])
        section[:] = [
            x for x in section if not x.startswith((*_TRANSPORT, "a=candidate:", "a=end-of-candidates", "c="))
        ]
        section.insert(next(i for i, x in enumerate(section) if x.startswith("a=mid:")) + 1, "a=bundle-only")
    return join(session, media)


def session_level_transport(offer: str) -> str:
    """ICE credentials, fingerprint and setup once at session level, none in the sections."""
    session, media = split(offer)
    shared = [x for x in media[0] if x.startswith(_TRANSPORT)]
    for section in media:
        section[:] = [x for x in section if not x.startswith(_TRANSPORT)]
    return join([*session, *shared], media)


def video_tagged(offer: str) -> str:
    """The BUNDLE group names the video section first (it is tagged, and carries the transport);
    the audio section, first in the SDP, is bundle-only."""
    session, media = split(offer)
    audio, video = media
    session = [f"a=group:BUNDLE {_mid(video)} {_mid(audio)}" if x.startswith("a=group:BUNDLE") else x for x in session]
    audio[0] = re.sub(r"^(m=\w+) \d+", r"\1 0", audio[0])
    audio[:] = [x for x in audio if not x.startswith((*_TRANSPORT, "a=candidate:", "a=end-of-candidates"))]
    audio.append("a=bundle-only")
    return join(session, media)


def no_bundle(offer: str) -> str:
    """One transport per section (GStreamer's bundle-policy=none, SIP gateways)."""
    session, media = split(offer)
    return join([x for x in session if not x.startswith("a=group:BUNDLE")], media)


def mdns_only(offer: str) -> str:
    """Host candidates under mDNS names (``<uuid>.local``) and end-of-candidates: Firefox's
    default, which also names its default candidate's host in ``c=`` and ``a=rtcp:`` lines."""
    names: dict[str, str] = {}

    def rename(m: re.Match[str]) -> str:
        name = names.setdefault(m.group(2), f"{uuid.uuid4()}.local")
        return f"{m.group(1)}{name}{m.group(3)}"

    session, media = split(offer)
    for section in media:
        section[:] = [re.sub(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host)", rename, x) for x in section]
        if "a=end-of-candidates" not in section:
            section.append("a=end-of-candidates")
    default = next(iter(names.values()), f"{uuid.uuid4()}.local")
    for section in media:
        section[:] = [re.sub(r"^(c=IN IP4 |a=rtcp:\d+ IN IP4 )\S+$", rf"\g<1>{default}", x) for x in section]
        if not any(x.startswith("a=rtcp:") for x in section):
            section.insert(2, f"a=rtcp:9 IN IP4 {default}")
    return join(session, media)


def without_candidates(offer: str) -> str:
    return "".join(
        x + "\r\n" for x in offer.splitlines() if x and not x.startswith(("a=candidate:", "a=end-of-candidates"))
    )


async def post_offer(server: Server, studio: str, sdp: str) -> tuple[int, str, str | None]:
    """POST an offer as ``studio``: status, body, Location."""
    headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {server.token(studio)}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/whip/test-show/{studio}", data=sdp, headers=headers) as res,
    ):
        return res.status, await res.text(), res.headers.get("Location")


async def publish_shaped(
    server: Server,
    pub: TrackPublisher,
    shape: Callable[[str], str],
    fix_answer: Callable[[str], str] = lambda answer: answer,
) -> str:
    """Publish ``pub`` with its offer reshaped; returns the server's answer (as sent).

    ``fix_answer`` turns the answer back into something the publisher's own aiortc
    accepts (it only knows its own H.264 formats). Waits until the publisher is connected.
    """
    await pub.pc.setLocalDescription(await pub.pc.createOffer())
    studio = pub.url.rsplit("/", 1)[1]
    status, answer, location = await post_offer(server, studio, shape(pub.pc.localDescription.sdp))
    assert status == 201, answer
    pub.location = location
    await pub.pc.setRemoteDescription(RTCSessionDescription(fix_answer(answer), "answer"))
    async with asyncio.timeout(15):
        while pub.pc.connectionState != "connected":
            await asyncio.sleep(0.05)
    return answer
