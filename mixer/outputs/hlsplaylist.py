"""HLS live media playlists (RFC 8216 section 4.3): the model, its text form and how it is replaced on disk."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class PlaylistSegment:
    sequence: int
    name: str
    duration: float
    program_date_time: float | None = None  # UNIX seconds of the first frame
    discontinuity: bool = False  # an EXT-X-DISCONTINUITY precedes this segment


@dataclass(frozen=True, slots=True)
class DateRange:
    """An instantaneous ``EXT-X-DATERANGE`` (RFC 8216 4.3.2.7): a timed metadata cue on the playlist's clock.

    ``attributes`` are client attributes (``X-...``) already rendered as RFC 8216
    4.2 values (a quoted string or a 0x hexadecimal sequence).
    """

    id: str
    start: float  # UNIX seconds (the frame's program date time)
    cls: str = ""
    attributes: tuple[tuple[str, str], ...] = ()

    def render(self) -> str:
        parts = [f'ID="{self.id}"']
        if self.cls:
            parts.append(f'CLASS="{self.cls}"')
        parts.append(f'START-DATE="{format_date_time(self.start)}"')
        parts += [f"{name}={value}" for name, value in self.attributes]
        return "#EXT-X-DATERANGE:" + ",".join(parts)


@dataclass(slots=True)
class Playlist:
    """A live media playlist: a sliding window of segments (RFC 8216 section 4.3)."""

    target_duration: int
    media_sequence: int = 0
    discontinuity_sequence: int = 0
    segments: list[PlaylistSegment] = field(default_factory=list)
    ended: bool = False
    # Shown while the segment they fall in is listed (RFC 8216 6.2.1); needs PROGRAM-DATE-TIME.
    dateranges: list[DateRange] = field(default_factory=list)

    @property
    def next_sequence(self) -> int:
        return self.media_sequence + len(self.segments)

    def render(self) -> str:
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",  # 3: decimal EXTINF
            f"#EXT-X-TARGETDURATION:{self.target_duration}",
            f"#EXT-X-MEDIA-SEQUENCE:{self.media_sequence}",
            f"#EXT-X-DISCONTINUITY-SEQUENCE:{self.discontinuity_sequence}",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
        lines += [daterange.render() for daterange in self.dateranges]
        for seg in self.segments:
            if seg.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            if seg.program_date_time is not None:
                lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{format_date_time(seg.program_date_time)}")
            lines.append(f"#EXTINF:{seg.duration:.3f},")
            lines.append(seg.name)
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


def format_date_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_playlist(text: str) -> Playlist:
    """Read a media playlist (ours, or any simple live one); raise ValueError if it is not one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("not an M3U8 playlist")
    playlist = Playlist(target_duration=0)
    duration: float | None = None
    pdt: float | None = None
    discontinuity = False
    for line in lines[1:]:
        tag, _, value = line.partition(":")
        if tag == "#EXT-X-TARGETDURATION":
            playlist.target_duration = int(value)
        elif tag == "#EXT-X-MEDIA-SEQUENCE":
            playlist.media_sequence = int(value)
        elif tag == "#EXT-X-DISCONTINUITY-SEQUENCE":
            playlist.discontinuity_sequence = int(value)
        elif tag == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif tag == "#EXT-X-PROGRAM-DATE-TIME":
            pdt = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        elif tag == "#EXTINF":
            duration = float(value.split(",", 1)[0])
        elif tag == "#EXT-X-ENDLIST":
            playlist.ended = True
        elif not line.startswith("#"):
            if duration is None:
                raise ValueError(f"segment {line!r} has no EXTINF")
            playlist.segments.append(PlaylistSegment(playlist.next_sequence, line, duration, pdt, discontinuity))
            duration, pdt, discontinuity = None, None, False
    return playlist


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: a reader opens either the old inode or the new one, never a half-written file.

    The temporary file is ``.{name}.tmp`` beside it: a hidden name, never one the server serves.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
