"""An HLS output's directory: the live playlist's sliding window of segments and the files behind it.

The directory belongs to one output.  The window keeps ``window`` segments listed; a segment
that leaves it stays on disk for ``retain_extra`` more segments (RFC 8216 6.2.2 wants a removed
segment available for its duration plus the playlist's) and is then deleted.  After a restart the
old playlist is continued: same media and discontinuity sequence numbering, files it no longer
lists expire like any other.  Used by the HLS output's worker thread only.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from pathlib import Path

from mixer.outputs.hlsplaylist import Playlist, PlaylistSegment, parse_playlist, write_atomically

log = logging.getLogger(__name__)

PLAYLIST_NAME = "index.m3u8"
# Names we create (and the only ones the HLS view serves): no dots but the suffix, no slashes.
# (The playlist's temporary file while it is replaced, ".index.m3u8.tmp", is neither.)
SEGMENT_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,95}\.ts")


class HlsWindow:
    """The playlist of ``directory`` and the segment files it lists or has just dropped.

    ``window``: segments listed (>= 1); ``retain_extra``: dropped segments kept on disk, so disk
    holds at most ``window + retain_extra`` segments; ``target_duration``: whole seconds, the
    least ``EXT-X-TARGETDURATION`` (it only grows, RFC 8216 6.2.1).
    """

    def __init__(self, directory: Path, window: int, retain_extra: int, target_duration: int) -> None:
        self.directory = directory
        self.window = window
        self.retain_extra = retain_extra
        self.playlist = Playlist(target_duration=target_duration)
        self._expired: deque[str] = deque()  # left the playlist, deleted after the grace
        self._abandoned = False

    @property
    def path(self) -> Path:
        return self.directory / PLAYLIST_NAME

    def restore(self) -> bool:
        """Continue an old playlist in this directory (sequence numbers, window) after a restart.

        Returns True if old segments stay listed (the next segment then starts a discontinuity).
        Files the playlist does not list are expired, oldest first. OSError if the directory
        cannot be made or read.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path
        old: Playlist | None = None
        if path.exists():
            try:
                old = parse_playlist(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.warning("hls: ignoring unreadable playlist %s: %s", path, exc)
        if old is not None:
            # Only whole head runs can leave a live playlist: drop up to the last missing file.
            segments = old.segments
            missing = [i for i, seg in enumerate(segments) if not (self.directory / seg.name).is_file()]
            cut = missing[-1] + 1 if missing else 0
            dropped_discontinuities = sum(seg.discontinuity for seg in segments[:cut])
            self.playlist = Playlist(
                target_duration=max(self.playlist.target_duration, *(round(seg.duration) for seg in segments[cut:]), 1),
                media_sequence=old.media_sequence + cut,
                discontinuity_sequence=old.discontinuity_sequence + dropped_discontinuities,
                segments=segments[cut:],
            )
            log.info(
                "hls: continuing %s at sequence %d (%d old segments listed)",
                path,
                self.playlist.next_sequence,
                len(self.playlist.segments),
            )
        listed = {seg.name for seg in self.playlist.segments}
        leftovers = [p for p in self.directory.iterdir() if SEGMENT_NAME_RE.fullmatch(p.name) and p.name not in listed]
        leftovers.sort(key=lambda p: p.stat().st_mtime)
        self._expired.extend(p.name for p in leftovers)
        self.delete_expired()
        return old is not None and bool(self.playlist.segments)

    def date_floor(self) -> float:
        """UNIX seconds where the listed media ends: a new timeline's dates never go back before it."""
        listed = self.playlist.segments
        last = listed[-1] if listed else None
        return (last.program_date_time or 0.0) + last.duration if last is not None else 0.0

    def add(self, segment: PlaylistSegment) -> None:
        """List a finished segment; the oldest ones leave the window (and later the disk)."""
        playlist = self.playlist
        playlist.segments.append(segment)
        # Never shrinks while we run (RFC 8216 6.2.1); a GOP longer than a segment grows it.
        playlist.target_duration = max(playlist.target_duration, round(segment.duration))
        while len(playlist.segments) > self.window:
            gone = playlist.segments.pop(0)
            playlist.media_sequence += 1
            if gone.discontinuity:
                playlist.discontinuity_sequence += 1
            self._expired.append(gone.name)
        first = playlist.segments[0].program_date_time
        if first is not None:  # a date range leaves with the segment it falls in
            playlist.dateranges = [d for d in playlist.dateranges if d.start >= first]

    def abandon(self) -> None:
        """Never write the playlist again (any thread): another node now writes the directory."""
        self._abandoned = True

    def publish(self) -> None:
        """Replace the playlist file atomically (unless abandoned); OSError if it cannot be written."""
        if self._abandoned:
            return
        write_atomically(self.path, self.playlist.render())

    def delete_expired(self) -> None:
        while len(self._expired) > self.retain_extra:
            unlink(self.directory / self._expired.popleft())


def unlink(path: Path) -> None:
    """Delete ``path`` if it is there; a failure is logged, never raised."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("hls: cannot delete %s: %s", path, exc)
