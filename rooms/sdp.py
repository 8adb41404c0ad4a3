"""The few SDP edits WHIP needs, on text: aiortc has no API for any of them.

- bitrate hints in the answer, so Chromium starts a 720p camera at 720p instead
  of ramping up from 300 kbit/s at a quarter of the size;
- an announced public address (1:1 NAT) next to our host candidates;
- reading a trickle ICE SDP fragment (RFC 8840, ``application/trickle-ice-sdpfrag``);
- making an offer's BUNDLE shape one aiortc can apply, or refusing it with the reason;
- leaving out candidates our ICE agent cannot use (mDNS ``.local`` names, TCP).
"""

from __future__ import annotations

import ipaddress
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


# -- offers ----------------------------------------------------------------------------------------
class OfferError(ValueError):
    """An offer this server cannot serve; the message names the reason."""


# What a BUNDLE-tagged m= section carries for the whole transport (RFC 8843 section 7.1).
_TRANSPORT_ATTRIBUTES = ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:", "a=setup:", "a=rtcp-mux")


def _attribute(lines: list[str], prefix: str) -> list[str]:
    return [line for line in lines if line == prefix or line.startswith(prefix)]


def _mid(section: list[str]) -> str | None:
    return next((line[6:].strip() for line in section if line.startswith("a=mid:")), None)


def _in_use(section: list[str]) -> bool:
    """A media section that is not rejected: a non-zero port, or port 0 with ``a=bundle-only``."""
    fields = section[0].split()
    return len(fields) > 1 and (fields[1] != "0" or "a=bundle-only" in section)


def bundle_offer(sdp: str) -> str:
    """The offer with every bundled m= section complete, as aiortc needs; or OfferError.

    RFC 8843 lets an offerer give the transport (ICE credentials, DTLS fingerprint and
    role) only in the BUNDLE-tagged m= section, the first one named in the group, and
    mark the others ``a=bundle-only`` with port 0 (RFC 9725's example offer does).
    aiortc reads those attributes per section, so they are copied from the tagged one.
    All media must share one transport: an offer that names no BUNDLE group, or leaves
    a section out of it (GStreamer's bundle-policy=none, SIP gateways), is refused
    rather than half served (one transport per section would not be receiving them).
    """
    parts = _sections(sdp)
    session, media = parts[0], [m for m in parts[1:] if _in_use(m)]
    if not media:
        return sdp
    groups = [line.split()[1:] for line in session if line.startswith("a=group:BUNDLE")]
    bundled = next((g for g in groups if g), [])
    outside = [m[0].split()[0][2:] + (f" (mid {_mid(m)})" if _mid(m) else "") for m in media if _mid(m) not in bundled]
    if len(media) > 1 and outside:
        reason = "names no BUNDLE group" if not bundled else f"leaves {', '.join(outside)} out of its BUNDLE group"
        raise OfferError(
            f"offer {reason}: this server receives all media over one transport (RFC 8843 BUNDLE); "
            "offer a=group:BUNDLE with every m= section (bundle-policy max-bundle or balanced)"
        )
    by_mid = {_mid(m): m for m in media}
    unknown = [mid for mid in bundled if mid not in by_mid]
    if unknown:  # aiortc would bundle onto a transport that does not exist, and never connect
        raise OfferError(f"offer's BUNDLE group names mid {', '.join(unknown)}, which no m= section in use has")
    if not bundled:
        return sdp
    tagged = by_mid[bundled[0]]
    for section in media:
        if section is tagged or _mid(section) not in bundled:
            continue
        for prefix in _TRANSPORT_ATTRIBUTES:
            if not _attribute(section, prefix) and not _attribute(session, prefix):
                section.extend(_attribute(tagged, prefix))
    return _join(parts)


def usable_candidate(line: str) -> bool:
    """Whether our ICE agent can pair with this ``candidate:`` (or ``a=candidate:``) line.

    Only UDP candidates with an IP address: an mDNS name (``<uuid>.local``, the host
    candidates of Firefox and of Chromium before camera permission) resolves only on the
    host's own link, never from a server elsewhere, and trying costs a 1 s timeout per name
    (aioice); a host behind one is still reached through the peer-reflexive candidate
    its connectivity checks reveal (RFC 8445 7.3.1.3). TCP candidates pair with nothing
    (aioice gathers UDP only).
    """
    fields = line.split(":", 1)[-1].split()
    if len(fields) < 8 or fields[2].lower() != "udp":
        return False
    try:
        ipaddress.ip_address(fields[4])
    except ValueError:
        return False
    return True


def _without_hostname(line: str) -> str:
    """A ``c=`` or ``a=rtcp:`` line naming a host (Firefox puts its mDNS name there) with
    ``IN IP4 0.0.0.0`` instead, what trickle ICE (RFC 8840) writes when no address is known yet; other lines
    as they are. aiortc accepts a name there but cannot write the description out again (its
    ``remoteDescription`` raises ValueError), and the address is never used: ICE picks the path."""
    if line.startswith("c="):
        head, address = "c=", line[2:]
    elif line.startswith("a=rtcp:") and " " in line:
        port, address = line.split(" ", 1)
        head = port + " "
    else:
        return line
    fields = address.split()
    if len(fields) == 3:
        try:
            ipaddress.ip_address(fields[2].split("/")[0])  # c= may carry a TTL (IPv4 multicast)
        except ValueError:
            return head + "IN IP4 0.0.0.0"
    return line


def without_unusable_candidates(sdp: str) -> str:
    """The offer without the candidates ``usable_candidate`` refuses, and with host names in
    ``c=`` and ``a=rtcp:`` lines replaced by ``0.0.0.0`` (``_without_hostname``).

    A section left with no usable candidate also loses ``a=end-of-candidates``: told that
    no candidate will come, aioice would drop the component (no candidate in our answer
    either) and fail at once, while the peer-reflexive candidate from the host's checks
    would have connected. The session's connect timeout bounds the wait instead.
    """
    parts = _sections(sdp)
    for part in parts:
        part[:] = [_without_hostname(line) for line in part]
    for part in parts[1:]:
        kept = [line for line in part if not line.startswith("a=candidate:") or usable_candidate(line)]
        if not any(line.startswith("a=candidate:") for line in kept):
            kept = [line for line in kept if line != "a=end-of-candidates"]
        part[:] = kept
    if not any(line.startswith("a=candidate:") for part in parts[1:] for line in part):
        parts[0] = [line for line in parts[0] if line != "a=end-of-candidates"]
    return _join(parts)


def offer_problem(exc: BaseException) -> str:
    """Why aiortc could not answer an offer, in words: ``"cannot answer this SDP offer: ..."``.

    aiortc refuses some offers (e.g. a payload type outside 0-127) with a bare ``assert``: its
    message is empty, so the reason is named here instead.
    """
    detail = str(exc).strip()
    if not detail:
        detail = "a value is out of range or malformed (e.g. a payload type outside 0-127)"
    elif not isinstance(exc, ValueError | KeyError | IndexError | AssertionError):
        detail = f"{type(exc).__name__}: {detail}"
    return f"cannot answer this SDP offer: {detail}"
