"""What a WHEP viewer's video is, and the H.264 level and profile facts the answers need.

The media side of WHEP: the program's own H.264 High packets, or a shared second
encode (:mod:`mixer.outputs.viewerencoder`).  Which one a viewer gets is decided
from its offer at the edge (:func:`rooms.webrtccodecs.choose_video`).
"""

from __future__ import annotations

import enum

H264_HIGH = 100  # profile_idc of what the encoder makes
DEFAULT_PROFILE_LEVEL_ID = "64001f"  # until the encoder's SPS tells the level


class ViewerCodec(enum.Enum):
    """What a viewer's video is: the program's packets, or one of the shared second encodes."""

    PROGRAM = "h264-high"
    VP8 = "vp8"
    H264_CB = "h264-cb"


# H.264 Table A-1: (level_idc, MaxMBPS macroblocks/s, MaxFS macroblocks), in order.
_LEVELS = ((30, 40_500, 1_620), (31, 108_000, 3_600), (32, 216_000, 5_120), (40, 245_760, 8_192),
           (42, 522_240, 8_704), (50, 589_824, 22_080), (51, 983_040, 36_864))  # fmt: skip


def h264_level(width: int, height: int, fps: int) -> int:
    """The lowest level_idc (H.264 Table A-1) that holds ``width`` x ``height`` at ``fps``; at least 3.0."""
    frame = ((width + 15) // 16) * ((height + 15) // 16)
    for level, max_mbps, max_fs in _LEVELS:
        if frame <= max_fs and frame * fps <= max_mbps:
            return level
    return _LEVELS[-1][0]


def profile_level_id(sps: bytes) -> str:
    """``profile-level-id`` (RFC 6184) of an SPS NAL: profile_idc, constraint flags, level_idc."""
    if len(sps) < 4:
        raise ValueError("SPS too short")
    return sps[1:4].hex()
