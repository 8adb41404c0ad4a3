"""The decode policy on its own (rooms/decodepolicy.py): what reaches the decoder at each level."""

from __future__ import annotations

import pytest

from rooms.decodepolicy import FULL, STANDBY, DecodePolicy, decode_level


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_standby_admits_keyframes_only_and_asks_for_one_each_refresh() -> None:
    clock, skipped = Clock(), []
    policy = DecodePolicy(STANDBY, refresh_s=1.0, on_skipped=lambda: skipped.append(1), clock=clock)
    assert policy.admit(True)
    assert [policy.admit(False) for _ in range(29)] == [False] * 29
    assert policy.frames_skipped == len(skipped) == 29
    assert not policy.wants_keyframe()
    clock.now += 1.0
    assert policy.wants_keyframe()  # none for refresh_s: ask
    assert policy.admit(True) and not policy.wants_keyframe()


def test_back_to_full_decodes_from_the_next_keyframe_and_asks_for_it_at_once() -> None:
    clock = Clock()
    policy = DecodePolicy(STANDBY, clock=clock)
    policy.admit(True)
    assert policy.set_level(FULL)  # the caller asks for a keyframe now
    assert policy.wants_keyframe() and policy.resuming
    clock.now += 0.25
    assert not policy.admit(False)  # its references were never decoded
    assert policy.admit(True) and not policy.resuming and policy.resumed_in_s == 0.25
    assert policy.admit(False) and not policy.wants_keyframe()
    assert not policy.set_level(FULL)  # no change: nothing to ask
    assert not policy.set_level(STANDBY) and not policy.admit(False)


def test_full_admits_everything_and_levels_are_checked() -> None:
    policy = DecodePolicy()
    assert all(policy.admit(k) for k in (False, True, False)) and not policy.wants_keyframe()
    with pytest.raises(ValueError, match="decode level"):
        policy.set_level("half")
    assert decode_level("a", {"a", "b"}) == FULL and decode_level("c", {"a", "b"}) == STANDBY


def test_a_studio_deaf_to_requests_with_a_long_gop_is_decoded_fully_in_standby() -> None:
    clock = Clock()
    policy = DecodePolicy(STANDBY, refresh_s=1.0, rare_keyframe_s=3.0, clock=clock)
    clock.now += 5.0  # joining took long: not judged before its first keyframe
    assert policy.admit(True, sent_s=0.0) and not policy.keyframes_rare
    clock.now += 1.0
    assert policy.wants_keyframe()  # asked ...
    clock.now += 3.0
    assert not policy.admit(False, sent_s=2.0)
    assert policy.admit(True, sent_s=4.0) and not policy.keyframes_rare  # ... 4 s with no answer: once may be chance
    # A starved receiver reads a keyframe 5 s late: the sender's clock says it came 1 s later.
    clock.now += 5.0
    assert policy.admit(True, sent_s=5.0) and not policy.keyframes_rare
    policy.admit(True, sent_s=9.0)
    assert policy.admit(True, sent_s=13.0) and policy.keyframes_rare  # twice in a row: a long GOP
    assert policy.admit(False) and not policy.wants_keyframe()  # decoded fully from that keyframe
    assert not policy.set_level(FULL) and not policy.resuming  # nothing to wait for at a cut
