"""The aiortc codec negotiation patch (rooms/compat/aiortccodecs.py): its H.264 rule on its own
(the pins of what it replaces: tests/rooms/test_compat.py)."""

from __future__ import annotations

import pytest

from rooms.compat import h264_receivable


@pytest.mark.parametrize(
    ("parameters", "receivable"),
    [
        ({"packetization-mode": 1, "profile-level-id": "42e01f"}, True),  # Constrained Baseline
        ({"packetization-mode": 1, "profile-level-id": "42001f"}, True),  # Baseline
        ({"packetization-mode": 1, "profile-level-id": "4d001f"}, True),  # Main
        ({"packetization-mode": 1, "profile-level-id": "640c1f"}, True),  # Constrained High
        ({"packetization-mode": 1, "profile-level-id": "640032"}, True),  # High 5.0
        ({"packetization-mode": 0, "profile-level-id": "42e01f"}, True),  # single NAL unit mode
        ({"profile-level-id": "42e01f"}, True),  # mode 0 by default
        ({}, True),  # Baseline, mode 0 (RFC 6184 8.1)
        ({"packetization-mode": 2, "profile-level-id": "42e01f"}, False),  # interleaved
        ({"packetization-mode": 1, "profile-level-id": "f4001f"}, False),  # High 4:4:4
        ({"packetization-mode": 1, "profile-level-id": "6e001f"}, False),  # High 10
        ({"packetization-mode": 1, "profile-level-id": "nonsense"}, False),
        ({"packetization-mode": "x"}, False),
    ],
)
def test_h264_receivable(parameters: dict[str, object], receivable: bool) -> None:
    assert h264_receivable(parameters) is receivable
