"""A show's outputs (``shows[].outputs``): HLS, HTTP-FLV, WHEP, RTMP pushes, recording, delay."""

from __future__ import annotations

from typing import Annotated

from pydantic.dataclasses import dataclass

from orchestrator.config.problems import STRICT, check
from orchestrator.fields import Flag, InRange, Integer, Number, Text


@dataclass(frozen=True, config=STRICT)
class RtmpDestination:
    """An RTMP push target: ``url`` includes the stream key (never shown by the API)."""

    name: Text
    url: Text
    delay_s: Annotated[Number, InRange(0, 60, "seconds")] = 0.0  # broadcast delay of this push (delayline)
    program: Text = ""  # which program it pushes: "landscape" or "portrait" (empty: the show's main one)


@dataclass(frozen=True, config=STRICT)
class Outputs:
    """What a show's one encode feeds; durations in seconds, the HLS window in segments."""

    hls: Flag = True
    flv: Flag = True
    hls_segment_seconds: Annotated[Number, InRange(1, 30, "seconds")] = 2.0
    hls_window: Annotated[Integer, InRange(2, 100, "segments in the playlist")] = 6
    whep: Flag = True  # WebRTC viewers at /whep/{show}
    whep_max_viewers: Annotated[Integer, InRange(1, 10_000)] = 500
    whep_viewer_token: Text = ""  # set: viewers must send it as Bearer token
    rtmp: tuple[RtmpDestination, ...] = ()  # pushed from the start; more can be added live
    rtmp_backoff_min: Number = 1.0  # seconds before the first reconnect, doubling up to the max
    rtmp_backoff_max: Number = 30.0  # seconds
    recording: Flag = False  # record from the start (the API starts and stops it too)
    recording_rotate_seconds: Annotated[Number, InRange(1, 86_400, "seconds")] = 600.0  # a new file after this long
    # Broadcast delay of the pull outputs (HLS, HTTP-FLV, WHEP) and the webhook; applied after
    # the one encode (mixer/outputs/delayline.py). The recording stays live.
    delay_s: Annotated[Number, InRange(0, 60, "seconds")] = 0.0


def check_outputs(out: Outputs, src: str, key: str) -> None:
    """What the types cannot say: token length, backoff order, destination names and URLs.

    ``key`` is where ``out`` sits (``shows[0].outputs``). Raises ConfigError.
    """
    from mixer.outputs.rtmpoutput import NAME_RE, check_rtmp_url

    check(
        not out.whep_viewer_token or len(out.whep_viewer_token) >= 8,
        src,
        f"{key}.whep_viewer_token",
        "must be empty or at least 8 characters",
    )
    check(
        0.1 <= out.rtmp_backoff_min <= out.rtmp_backoff_max <= 600,
        src,
        f"{key}.rtmp_backoff_min",
        "need 0.1 <= rtmp_backoff_min <= rtmp_backoff_max <= 600",
    )
    names: set[str] = set()
    for i, dest in enumerate(out.rtmp):
        dkey = f"{key}.rtmp[{i}]"
        check(
            bool(NAME_RE.match(dest.name)),
            src,
            f"{dkey}.name",
            f"{dest.name!r} must be lowercase letters, digits, '-', '_'",
        )
        check(dest.name not in names, src, f"{dkey}.name", f"duplicate destination {dest.name!r}")
        names.add(dest.name)
        problem = check_rtmp_url(dest.url)
        check(problem is None, src, f"{dkey}.url", str(problem))
