"""Which media a publisher's offer sends: an audio-only studio is told apart before it goes on air."""

from __future__ import annotations

from rooms.mediakinds import sent_kinds

HEAD = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"


def section(kind: str, mid: int, *attrs: str, port: int = 9) -> str:
    pt, codec = ("111", "opus/48000/2") if kind == "audio" else ("96", "H264/90000")
    lines = [f"m={kind} {port} UDP/TLS/RTP/SAVPF {pt}", "c=IN IP4 0.0.0.0", f"a=mid:{mid}", *attrs]
    return "\r\n".join([*lines, f"a=rtpmap:{pt} {codec}"]) + "\r\n"


def test_audio_and_video() -> None:
    offer = HEAD + section("audio", 0, "a=sendonly") + section("video", 1, "a=sendonly")
    assert sent_kinds(offer) == {"audio", "video"}


def test_a_phone_in_guest_sends_audio_only() -> None:
    assert sent_kinds(HEAD + section("audio", 0, "a=sendonly")) == {"audio"}
    # A video section the publisher will not send on (camera off): still audio only.
    offer = HEAD + section("audio", 0, "a=sendrecv") + section("video", 1, "a=inactive")
    assert sent_kinds(offer) == {"audio"}


def test_bundle_only_video_with_port_zero_is_sent() -> None:
    # RFC 9725's example shape: the second m= line is bundle-only, port 0, no direction (sendrecv).
    offer = HEAD + section("audio", 0, "a=sendonly") + section("video", 1, "a=bundle-only", port=0)
    assert sent_kinds(offer) == {"audio", "video"}


def test_unparsable_offers_count_as_both() -> None:
    assert sent_kinds("v=0\r\nm=video x\r\n") == {"audio", "video"}
