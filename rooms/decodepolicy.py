"""How much of a studio's video is decoded: all of it on air and on preview, keyframes in standby.

A studio nobody is about to put on air only feeds the multiview (a few small pictures a
second), yet decoding every frame of a 720p30 stream costs as much as for the program.
In ``standby`` only keyframes reach the decoder: each decodes on its own (H.264 IDR,
H.264 7.4.1.2.4; VP8 key frame, RFC 6386 9.1), so skipping the frames between them is
always correct. Skipping only non-reference frames would not help: a camera's
baseline H.264 has no B-frames and every P frame is a reference. A keyframe is asked
for when none came for ``refresh_s``, so the multiview picture is never older than that.

A studio whose keyframes come further apart than ``rare_keyframe_s`` in standby, twice in a
row, ignores the requests (FFmpeg's and most OBS set-ups answer none) and has a long GOP:
going to full would leave it frozen until its next keyframe, so from then on it is decoded
fully in standby too (``keyframes_rare``), as it would be without this policy. The gap is
measured on the sender's clock (RTP timestamps) when given: a starved receiver that reads
its packets late must not mistake its own delay for the studio's.

Back to ``full``: the inter frames after the last decoded keyframe refer to pictures the
decoder never saw, so decoding resumes at the next keyframe, which is asked for at once
(PLI/FIR; see rooms/compat/aiortcreceive.py). Until it comes the studio shows its last picture, and the
frames that arrive still count as the studio delivering (``on_skipped``), so a cut to a
standby studio does not make the program fall back.

Cost, measured (docs/BENCHMARKS.md): decoding a 720p30 2.5 Mbit/s camera-like H.264 stream
costs ~1.2 ms of CPU per frame; in standby one keyframe a second costs ~5 ms.

The level is plain data set from outside (``set_level``), so a receive path in another
process can take it from a control channel.
"""

from __future__ import annotations

import time
from collections.abc import Callable

FULL, STANDBY = "full", "standby"
DECODE_LEVELS = (FULL, STANDBY)
STANDBY_REFRESH_S = 1.0  # s: a standby studio's newest decoded picture is at most about this old
RARE_KEYFRAME_S = 3.0  # s: keyframes further apart than this in standby: decoded fully (deaf to requests)


class DecodePolicy:
    """Which whole encoded frames of one studio's video reach its decoder.

    ``admit`` is called (event loop) for every whole frame in order; ``wants_keyframe``
    says when the stream should be asked for a keyframe. ``on_skipped`` is called for
    each frame not decoded by this policy (the studio is delivering all the same).
    Not thread-safe: the event loop alone calls it.
    """

    def __init__(
        self,
        level: str = FULL,
        refresh_s: float = STANDBY_REFRESH_S,
        rare_keyframe_s: float = RARE_KEYFRAME_S,
        on_skipped: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if level not in DECODE_LEVELS:
            raise ValueError(f"decode level must be one of {DECODE_LEVELS}, not {level!r}")
        self._level = level
        self.refresh_s = refresh_s
        self.rare_keyframe_s = rare_keyframe_s
        self.keyframes_rare = False  # seen in standby: this studio is decoded fully at every level
        self._last_key_sent: float | None = None  # sender's time of the last keyframe (RTP), s
        self._long_gaps = 0  # consecutive keyframe gaps over rare_keyframe_s in standby
        self.on_skipped = on_skipped
        self._clock = clock
        self.resuming = False  # back to full, waiting for the keyframe to decode from
        self._last_keyframe = clock()
        self.frames_skipped = 0  # whole frames received and not decoded (standby, or resuming)
        self.resumes = 0  # standby -> full switches
        self.resumed_in_s: float | None = None  # the last switch's wait for its keyframe
        self._resume_asked = 0.0

    @property
    def level(self) -> str:
        return self._level

    def set_level(self, level: str) -> bool:
        """Change the level; True when the decoder now needs a keyframe (ask for it at once).

        Raises ValueError for an unknown level.
        """
        if level not in DECODE_LEVELS:
            raise ValueError(f"decode level must be one of {DECODE_LEVELS}, not {level!r}")
        old, self._level = self._level, level
        if level == STANDBY:
            self.resuming = False
            return False
        if old == STANDBY and not self.keyframes_rare:
            self.resuming = True
            self.resumes += 1
            self._resume_asked = self._clock()
            return True
        return False

    def admit(self, keyframe: bool, sent_s: float | None = None) -> bool:
        """Whether a whole frame (in stream order) goes to the decoder.

        ``sent_s``: the frame's time on the sender's clock (its RTP timestamp in seconds, any
        origin), or None to judge keyframe gaps by arrival.
        """
        if keyframe:
            now = self._clock()
            sent = now if sent_s is None else sent_s
            if self._last_key_sent is not None and self._level == STANDBY:
                long_gap = sent - self._last_key_sent > self.rare_keyframe_s
                self._long_gaps = self._long_gaps + 1 if long_gap else 0
                self.keyframes_rare = self.keyframes_rare or self._long_gaps >= 2
            self._last_key_sent = sent
            self._last_keyframe = now
            if self.resuming:
                self.resuming = False
                self.resumed_in_s = round(self._last_keyframe - self._resume_asked, 3)
            return True
        if (self._level == FULL and not self.resuming) or self.keyframes_rare:
            return True
        self.frames_skipped += 1
        if self.on_skipped is not None:
            self.on_skipped()
        return False

    def wants_keyframe(self) -> bool:
        """Resuming full decoding, or in standby with no keyframe for ``refresh_s``."""
        if self.resuming:
            return True
        stale = self._clock() - self._last_keyframe >= self.refresh_s
        return self._level == STANDBY and not self.keyframes_rare and stale


def decode_level(studio: str, watched: frozenset[str] | set[str]) -> str:
    """``full`` for a studio someone watches at full rate (program, preview, backup), else ``standby``."""
    return FULL if studio in watched else STANDBY
