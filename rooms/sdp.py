"""The few SDP edits WHIP needs, on text: aiortc has no API for any of them.

- bitrate hints in the answer, so Chromium starts a 720p camera at 720p instead
  of ramping up from 300 kbit/s at a quarter of the size;
- an announced public address (1:1 NAT) next to our host candidates;
- reading a trickle ICE SDP fragment (RFC 8840, ``application/trickle-ice-sdpfrag``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Payload formats that are not pictures: no bitrate hints for them.
_NOT_VIDEO_CODECS = {"rtx", "red", "ulpfec", "flexfec-03"}


def _sections(sdp: str) -> list[list[str]]:
    """Session part first, then one list of lines per m= section."""
    parts: list[list[str]] = [[]]
    for line in sdp.splitlines():
        if line.startswith("m="):
            parts.append([])
        if line:
            parts[-1].append(line)
    return parts


def _join(parts: list[list[str]]) -> str:
    return "".join(line + "\r\n" for part in parts for line in part)


def add_bitrate_hints(sdp: str, start_kbps: int, min_kbps: int, max_kbps: int | None = None) -> str:
    """Add ``x-google-{start,min,max}-bitrate`` to every video codec's fmtp line.

    Chromium reads these from the *remote* description: in an answer they steer
    what the browser sends us.
    """
    hints = {"x-google-start-bitrate": start_kbps, "x-google-min-bitrate": min_kbps}
    if max_kbps:
        hints["x-google-max-bitrate"] = max_kbps
    parts = _sections(sdp)
    for part in parts[1:]:
        if not part[0].startswith("m=video"):
            continue
        codecs: dict[str, str] = {}
        for line in part:
            m = re.match(r"a=rtpmap:(\d+) ([^/]+)/", line)
            if m:
                codecs[m.group(1)] = m.group(2).lower()
        extra = ";".join(f"{k}={v}" for k, v in hints.items())
        done: set[str] = set()
        for i, line in enumerate(part):
            m = re.match(r"a=fmtp:(\d+) (.*)", line)
            if m and codecs.get(m.group(1), "rtx") not in _NOT_VIDEO_CODECS:
                kept = ";".join(p for p in m.group(2).split(";") if p and not p.startswith("x-google-"))
                part[i] = f"a=fmtp:{m.group(1)} {kept};{extra}" if kept else f"a=fmtp:{m.group(1)} {extra}"
                done.add(m.group(1))
        # Codecs without parameters (VP8) have no fmtp line yet: add one after their rtpmap.
        for pt, name in codecs.items():
            if name in _NOT_VIDEO_CODECS or pt in done:
                continue
            at = next(i for i, line in enumerate(part) if line.startswith(f"a=rtpmap:{pt} "))
            part.insert(at + 1, f"a=fmtp:{pt} {extra}")
    return _join(parts)


_CANDIDATE = re.compile(
    r"a=candidate:(?P<foundation>\S+) (?P<component>\d+) (?P<transport>\S+) (?P<priority>\d+) "
    r"(?P<host>\S+) (?P<port>\d+) typ (?P<type>\S+)(?P<rest>.*)"
)


def announce_public_address(sdp: str, public: str) -> str:
    """For each host candidate add one with the same port at ``public`` (1:1 NAT).

    The original stays, so hosts on the same LAN still use the private address;
    the copy has a slightly lower priority and its own foundation.
    """
    parts = _sections(sdp)
    for part in parts[1:]:
        out: list[str] = []
        seen = {m.group("host") + ":" + m.group("port") for line in part if (m := _CANDIDATE.match(line))}
        for line in part:
            out.append(line)
            m = _CANDIDATE.match(line)
            if not m or m.group("type") != "host" or m.group("host") == public:
                continue
            if f"{public}:{m.group('port')}" in seen:
                continue
            priority = max(int(m.group("priority")) - 1, 1)
            out.append(
                f"a=candidate:pub{m.group('foundation')} {m.group('component')} {m.group('transport')} "
                f"{priority} {public} {m.group('port')} typ srflx raddr {m.group('host')} rport {m.group('port')}"
            )
        part[:] = out
    return _join(parts)


def candidate_ports(sdp: str) -> list[int]:
    """Ports of all candidates in an SDP (for checks and tests)."""
    return [int(m.group("port")) for line in sdp.splitlines() if (m := _CANDIDATE.match(line.strip()))]


class SdpFragError(ValueError):
    """The PATCH body is not a trickle ICE SDP fragment."""


@dataclass
class SdpFrag:
    """What a trickle ICE PATCH carries: credentials and candidates per media (by mid)."""

    ufrag: str | None = None
    pwd: str | None = None
    candidates: list[tuple[str | None, str]] = field(default_factory=list)  # (mid, "candidate:...")
    end_of_candidates: bool = False


def parse_sdpfrag(text: str) -> SdpFrag:
    frag = SdpFrag()
    mid: str | None = None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise SdpFragError("empty SDP fragment")
    for line in lines:
        if len(line) < 2 or line[1] != "=":
            raise SdpFragError(f"not an SDP line: {line[:40]!r}")
        if line.startswith("m="):
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[6:]
        elif line.startswith("a=ice-ufrag:"):
            frag.ufrag = line[12:]
        elif line.startswith("a=ice-pwd:"):
            frag.pwd = line[10:]
        elif line.startswith("a=candidate:"):
            frag.candidates.append((mid, line[2:]))
        elif line == "a=end-of-candidates":
            frag.end_of_candidates = True
    return frag
