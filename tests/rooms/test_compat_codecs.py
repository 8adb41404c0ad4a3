"""The aiortc codec negotiation patch (rooms/compat.py): pinned to the upstream source it
replaces, and its H.264 rule on its own."""

from __future__ import annotations

import pytest

from rooms import ice
from rooms.compat import PINNED_CODEC_NEGOTIATION, h264_receivable, source_hash

# aioice functions rooms/ice.py wraps or replaces: inbound traffic noted and counted as
# consent, consent checks, host addresses offered, the UDP port range (binds inside gathering).
PINNED_AIOICE = {
    "Connection.data_received": (ice._original_data_received, "5631b17fab717d6b"),
    "Connection.query_consent": (ice._original_query_consent, "fe49173a650a378a"),
    "get_host_addresses": (ice._original, "d4a54f9a68c39ff1"),
    "Connection.get_component_candidates": (ice._original_gather, "118597a9fcb703f9"),
}


@pytest.mark.parametrize("name", [*PINNED_CODEC_NEGOTIATION, *PINNED_AIOICE])
def test_patched_upstream_source_is_the_one_read(name: str) -> None:
    obj, pinned = {**PINNED_CODEC_NEGOTIATION, **PINNED_AIOICE}[name]
    assert source_hash(obj) == pinned, (
        f"upstream {name} changed (installed aiortc/aioice upgraded?): re-read it against the patch "
        "in rooms/compat.py or rooms/ice.py, then pin the new hash"
    )


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
