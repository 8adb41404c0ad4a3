"""A show (``shows[]``): its studios, products, outputs, programs and switching settings."""

from __future__ import annotations

import dataclasses
import zoneinfo
from collections.abc import Sequence
from typing import Annotated

from pydantic import Field
from pydantic.dataclasses import dataclass

from mixer.scene import FIT_MODES
from orchestrator.config.outputs import Outputs, check_outputs
from orchestrator.config.problems import STRICT, ConfigError, check
from orchestrator.config.product import Product
from orchestrator.fields import (
    VIDEO_CODECS,
    FallbackPolicy,
    Flag,
    Id,
    InRange,
    Integer,
    Number,
    OneOf,
    Orientation,
    Programs,
    Text,
    TransitionMs,
)


@dataclass(frozen=True, config=STRICT)
class Studio:
    """A remote room of a show; ``photo`` is a picture file shown while it sends audio only."""

    id: Id
    name: Text
    place: Text = ""
    name_en: Text = ""
    host: Text = ""
    photo: Text = ""  # picture file shown on the studio's card when it sends audio only


@dataclass(frozen=True, config=STRICT)
class Show:
    """One production with its program outputs. Sizes in pixels, bitrates in bits per second."""

    id: Id
    title: Text
    width: Integer = 1280  # pixels
    height: Integer = 720  # pixels
    fps: Integer = 30  # frames per second
    video_bitrate: Integer = 2_500_000  # bits per second
    audio_bitrate: Integer = 128_000  # bits per second
    studios: tuple[Studio, ...] = ()
    products: tuple[Product, ...] = ()
    outputs: Outputs = dataclasses.field(default_factory=Outputs)
    slate_text: Text = "Back soon · 马上回来"
    video_codec: Annotated[Text, OneOf(("", *VIDEO_CODECS))] = ""  # what studios send; empty: server.video_codec
    logo_text: Annotated[Text, Field(max_length=40)] = ""  # the logo in the top corner; empty = the title
    logo_image: Text = ""  # a picture file for the logo instead of the text
    # The mixer (mixer/program.py). Portrait swaps width/height if needed: 1280x720 -> 720x1280.
    # One program, shorthand for programs = [orientation] (default landscape); portrait: 9:16 for phones.
    orientation: Orientation | None = None
    # The show's programs, each its own canvas, graphics and encode from the one scene and audio mix
    # (mixer/canvas.py); the first is the main one. Absent: [orientation].
    programs: Programs | None = None
    # Studio pictures in their box: "fit" (coloured sides), "crop" (fill), "blur" (blurred sides).
    fit: Annotated[Text, OneOf(FIT_MODES)] = "fit"
    fill_colour: Text = "#000000"  # the sides in "fit" mode
    # Without a frame from the program studio this long, the fallback goes on air.
    fallback_after: Annotated[Number, InRange(0.2, 30, "seconds")] = 1.0
    backup_studio: Text = ""  # shown on a fallback if it is live (else the slate)
    # Studios not on program, preview or backup are decoded keyframes only (rooms/decodepolicy.py).
    standby_decode: Flag = True
    fallback_policy: FallbackPolicy = "auto"  # after a fallback: "auto" (return when steady) or "manual"
    # auto: steady delivery this long before the studio returns.
    fallback_return_after: Annotated[Number, InRange(0.2, 30, "seconds")] = 2.0
    transition_ms: TransitionMs = 500  # default duration of a take's fade/wipe/slide
    # Studios' audio arrives this much after their video (tests/mixer/test_audio_lipsync.py).
    av_sync_ms: Annotated[Integer, InRange(0, 300, "milliseconds")] = 50
    # Commerce back-ends get each timed metadata cue here, signed (orchestrator/webhook.py).
    webhook_url: Text = ""
    webhook_secret: Text = ""
    timezone: Text = "Asia/Shanghai"  # IANA zone for times shown to the crew (alarms, event CSV)

    def studio(self, studio_id: str) -> Studio | None:
        """The studio with this id, or None."""
        return next((s for s in self.studios if s.id == studio_id), None)

    @property
    def orientations(self) -> tuple[str, ...]:
        """The show's programs, main first: ``programs``, or the ``orientation`` shorthand."""
        return self.programs or (self.orientation or "landscape",)

    def canvas(self, orientation: str) -> tuple[int, int]:
        """(width, height) of a program: the show's size, long side across (landscape) or up (portrait)."""
        long, short = max(self.width, self.height), min(self.width, self.height)
        return (short, long) if orientation == "portrait" else (long, short)

    def program_id(self, orientation: str) -> str:
        """The name of a program's outputs: the show's id for the main one, ``{id}-{orientation}``
        for another (``/live/{show}-portrait/index.m3u8``, ``/whep/{show}-portrait``)."""
        return self.id if orientation == self.orientations[0] else f"{self.id}-{orientation}"


def apply_orientation(shows: tuple[Show, ...]) -> tuple[Show, ...]:
    """A show whose main program is portrait gets its long side vertical, whichever way width/height were given."""
    return tuple(
        dataclasses.replace(s, width=s.height, height=s.width)
        if s.orientations[0] == "portrait" and s.width > s.height
        else s
        for s in shows
    )


def check_shows(shows: Sequence[Show], src: str) -> None:
    """What the types cannot say about ``shows[]``: sizes, unique ids, outputs, then the mixer's
    settings of each show. Raises ConfigError for the first problem."""
    check(bool(shows), src, "shows", "at least one show is required")
    seen: set[str] = set()
    for i, show in enumerate(shows):
        key = f"shows[{i}]"
        check(show.id not in seen, src, f"{key}.id", f"duplicate show {show.id!r}")
        seen.add(show.id)
        _check_show(show, src, key)
    for i, show in enumerate(shows):
        _check_mixer(show, {s.id for s in shows} - {show.id}, src, f"shows[{i}]")


def _check_show(show: Show, src: str, key: str) -> None:
    """Picture size, rates, unique studios and products, outputs, the webhook."""
    check(160 <= show.width <= 3840 and show.width % 2 == 0, src, f"{key}.width", "must be even, 160-3840")
    check(90 <= show.height <= 3840 and show.height % 4 == 0, src, f"{key}.height", "must be a multiple of 4, 90-3840")
    check(1 <= show.fps <= 60, src, f"{key}.fps", "must be 1-60")
    check(100_000 <= show.video_bitrate <= 50_000_000, src, f"{key}.video_bitrate", "out of range")
    check(32_000 <= show.audio_bitrate <= 512_000, src, f"{key}.audio_bitrate", "out of range")
    check(bool(show.studios), src, f"{key}.studios", "at least one studio is required")
    parts: tuple[tuple[str, Sequence[Studio | Product]], ...] = (("studios", show.studios), ("products", show.products))
    for part, items in parts:
        ids: set[str] = set()
        for j, item in enumerate(items):
            check(item.id not in ids, src, f"{key}.{part}[{j}].id", f"duplicate {part[:-1]} {item.id!r}")
            ids.add(item.id)
    check("\0" not in show.logo_image, src, f"{key}.logo_image", "must not contain a NUL character")
    check_outputs(show.outputs, src, f"{key}.outputs")
    for j, dest in enumerate(show.outputs.rtmp):
        check(
            not dest.program or dest.program in show.orientations,
            src,
            f"{key}.outputs.rtmp[{j}].program",
            f"{dest.program!r} is not a program of this show ({', '.join(show.orientations)})",
        )
    check(
        not show.webhook_url or show.webhook_url.startswith(("http://", "https://")),
        src,
        f"{key}.webhook_url",
        "must be an http:// or https:// URL",
    )
    check(
        not show.webhook_url or len(show.webhook_secret) >= 16,
        src,
        f"{key}.webhook_secret",
        "needs at least 16 characters when webhook_url is set (it signs every delivery)",
    )


def _check_mixer(show: Show, other_shows: set[str], src: str, key: str) -> None:
    """Switching, layout and fallback settings; ``other_shows``: ids a program must not take."""
    from mixer.planes import parse_colour

    try:
        parse_colour(show.fill_colour)
    except ValueError:
        raise ConfigError(f"{src}: {key}.fill_colour: {show.fill_colour!r} must be #rrggbb") from None
    check(_known_zone(show.timezone), src, f"{key}.timezone", "must be an IANA time zone like Asia/Shanghai")
    check(
        show.programs is None or show.orientation is None,
        src,
        f"{key}.orientation",
        "give either orientation (one program) or programs, not both",
    )
    for orientation in show.orientations[1:]:
        check(
            show.program_id(orientation) not in other_shows,
            src,
            f"{key}.programs",
            f"program {show.program_id(orientation)!r} has the name of another show",
        )
    check(
        not show.backup_studio or show.studio(show.backup_studio) is not None,
        src,
        f"{key}.backup_studio",
        f"{show.backup_studio!r} is not a studio of this show",
    )
    for j, studio in enumerate(show.studios):
        _check_photo(studio.photo, src, f"{key}.studios[{j}].photo")


def _known_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _check_photo(path: str, src: str, key: str) -> None:
    """A studio's photo must be a picture file we can read (drawn later, when it sends audio only)."""
    from mixer.studiocard import load_photo

    if not path:
        return
    try:
        load_photo(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{src}: {key}: {path!r} is not a readable picture ({exc})") from None
