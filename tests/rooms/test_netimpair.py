"""The impairment harness itself (tests/netimpair.py): seeded, and doing what its profile says."""

from __future__ import annotations

from tests.netimpair import Impairment, Profile, classify

RTP = bytes([0x80, 96]) + bytes(1198)  # RTP, payload type 96, 1200 bytes
AUDIO = bytes([0x80, 111]) + bytes(98)
RTCP = bytes([0x81, 205]) + bytes(14)
STUN = bytes([0x00, 0x01]) + bytes(18)
DTLS = bytes([22, 0xFE]) + bytes(30)


def _fates(profile: Profile, seed: int, n: int = 5000, data: bytes = RTP, step: float = 0.001) -> list[float | None]:
    impairment = Impairment(profile, seed, frozenset({96}))
    return [impairment.decide(data, i * step) for i in range(n)]


def test_classify() -> None:
    assert [classify(d) for d in (RTP, RTCP, STUN, DTLS, b"")] == ["rtp", "rtcp", "stun", "dtls", "other"]


def test_same_seed_same_decisions_and_the_loss_rate_holds() -> None:
    profile = Profile(loss=0.05, delay_ms=40, jitter_ms=40)
    a, b = _fates(profile, 9), _fates(profile, 9)
    assert a == b
    assert a != _fates(profile, 10)
    lost = sum(f is None for f in a) / len(a)
    assert 0.04 < lost < 0.06
    delays = [f - i * 0.001 for i, f in enumerate(a) if f is not None]
    assert 0.0 <= min(delays) < 0.005 and 0.075 < max(delays) <= 0.080  # 40 +- 40 ms
    # Jitter reorders: some packet is delivered before its predecessor.
    delivered = [f for f in a if f is not None]
    assert any(later < earlier for earlier, later in zip(delivered, delivered[1:], strict=False))
    in_order = [f for f in _fates(Profile(delay_ms=40, jitter_ms=40, reorder=False), 9) if f is not None]
    assert in_order == sorted(in_order)


def test_burst_loss_comes_in_bursts() -> None:
    # Gilbert-Elliott: enter the bad state 1 % of packets, leave it 25 %: mean burst 4, ~3.8 % lost.
    fates = _fates(Profile(burst_enter=0.01, burst_leave=0.25), 3, n=20000)
    runs, run = [], 0
    for f in fates:
        if f is None:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    assert 0.02 < sum(runs) / len(fates) < 0.06
    assert 3 < sum(runs) / len(runs) < 5.5


def test_bandwidth_cap_queues_then_drops() -> None:
    # 1200-byte packets every 1 ms is 9.6 Mbit/s; a 4.8 Mbit/s cap with a 100 ms queue.
    fates = _fates(Profile(rate_kbps=4800, queue_ms=100), 1, n=2000)
    delivered = [f for f in fates if f is not None]
    assert 0.45 < len(delivered) / len(fates) < 0.55
    gaps = [b - a for a, b in zip(delivered, delivered[1:], strict=False)]
    assert min(gaps) >= 0.002 - 1e-9  # serialised at the capped rate


def test_only_video_and_outage() -> None:
    impairment = Impairment(Profile(loss=1.0, only="video"), 1, frozenset({96}))
    assert impairment.decide(RTP, 0.0) is None
    assert impairment.decide(AUDIO, 0.0) == 0.0 and impairment.decide(STUN, 0.0) == 0.0
    media = Impairment(Profile(loss=1.0), 1)  # "media": RTP and RTCP, never ICE or DTLS
    assert media.decide(RTCP, 0.0) is None and media.decide(DTLS, 0.0) == 0.0
    media.outage = True
    assert media.decide(STUN, 0.0) is None and media.decide(DTLS, 0.0) is None
