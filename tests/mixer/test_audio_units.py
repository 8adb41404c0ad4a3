"""Audio mixer pieces on numpy: the limiter's ceiling, the jitter buffer's drift control,
click-free underruns, and the meters' dBFS scale."""

from __future__ import annotations

import av
import numpy as np
import pytest

from mixer.audiomixer import AudioMixer
from mixer.dynamics import Limiter, Meter, soft_clip
from mixer.feedbuffer import FeedBuffer

N = 1600  # samples per tick at 30 fps


def tone(start: int, n: int, hz: float = 440, amplitude: float = 8000) -> av.AudioFrame:
    t = (np.arange(n) + start) / 48000
    mono = (np.sin(2 * np.pi * hz * t) * amplitude).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo")
    frame.sample_rate, frame.pts = 48000, start
    return frame


def test_soft_clip_is_linear_below_the_knee_and_never_exceeds_the_ceiling() -> None:
    x = np.linspace(-200_000, 200_000, 100_001, dtype=np.float32)
    y = x.copy()
    soft_clip(y, 26000, 32000)
    assert np.array_equal(y[np.abs(x) <= 26000], x[np.abs(x) <= 26000])
    assert np.abs(y).max() <= 32000
    assert np.all(np.diff(y) >= 0)  # monotonic: no folding


@pytest.mark.parametrize("amplitude", [20000, 60000, 300000])
def test_limiter_output_never_saturates_int16(amplitude: float) -> None:
    limiter = Limiter(48000, N)
    t = np.arange(N * 30) / 48000
    loud = (np.sin(2 * np.pi * 200 * t) * amplitude).astype(np.float32)
    out = np.concatenate([limiter.process(np.stack([b, b], axis=1).copy()) for b in loud.reshape(30, N)])
    assert np.abs(out.astype(np.int32)).max() < 32767 * 0.98
    if amplitude > 30000:
        assert limiter.reduction_db > 0


def test_meter_reads_dbfs() -> None:
    meter = Meter(48000, N)
    block = np.stack([tone(0, N, amplitude=16384).to_ndarray().reshape(-1, 2)[:, 0]] * 2, axis=1)
    for _ in range(30):
        meter.update(block)
    assert meter.reading()["peak_dbfs"] == pytest.approx(-6.0, abs=0.1)
    assert meter.reading()["rms_dbfs"] == pytest.approx(-9.0, abs=0.2)


@pytest.mark.parametrize("ppm", [10000, -5000])  # a studio clock 1% fast, 0.5% slow
def test_drift_control_keeps_the_buffer_delay_steady(ppm: int) -> None:
    mixer = AudioMixer(48000, N)
    feed = FeedBuffer("a")
    mixer.set_on_air(["a"], 1440)
    per_tick = N + N * ppm // 1_000_000
    sent = 0
    depths = []
    for tick in range(900):  # 30 s
        feed.push_audio(tone(sent, per_tick))
        sent += per_tick
        mixer.mix({"a": feed})
        if tick > 150:
            depths.append(mixer.latency("a"))
    assert max(depths) < 0.11 and min(depths) > 0.035, (min(depths), max(depths))
    assert mixer.underruns("a") <= 1


def test_underrun_fades_out_instead_of_clicking() -> None:
    mixer = AudioMixer(48000, N)
    feed = FeedBuffer("a")
    mixer.set_on_air(["a"], 1440)
    sent = 0
    out = []
    for tick in range(40):
        if not 20 <= tick < 25:  # the studio's audio stalls for 5 ticks
            feed.push_audio(tone(sent, N, hz=1000))
            sent += N
        out.append(mixer.mix({"a": feed})[:, 0].astype(np.int32))
    audio = np.concatenate(out)
    assert mixer.underruns("a") >= 1
    assert np.abs(np.diff(audio)).max() < 1200  # 1 kHz at 8000 moves <= 1047 a sample
