"""Audio mixer pieces on numpy: the limiter's ceiling, the jitter buffer's drift control,
click-free underruns, and the meters' dBFS scale."""

from __future__ import annotations

import av
import numpy as np
import pytest

from mixer.audiomixer import AudioMixer
from mixer.dynamics import Limiter, Meter, soft_clip
from mixer.encodedpacket import ProgramFormat
from mixer.feedbuffer import FeedBuffer
from mixer.programencoder import ProgramEncoder

N = 1600  # samples per tick at 30 fps


def tone(start: int, n: int, hz: float = 440, amplitude: float = 8000) -> av.AudioFrame:
    t = (np.arange(n) + start) / 48000
    mono = (np.sin(2 * np.pi * hz * t) * amplitude).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo")
    frame.sample_rate, frame.pts = 48000, start
    return frame


def _studio_on_air() -> tuple[AudioMixer, FeedBuffer]:
    """A 48 kHz mixer of N samples a tick with studio ``a``'s feed on air (1440 samples buffered)."""
    mixer = AudioMixer(48000, N)
    mixer.set_on_air(["a"], 1440)
    return mixer, FeedBuffer("a")


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
    mixer, feed = _studio_on_air()
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
    mixer, feed = _studio_on_air()
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


def test_a_stalled_clock_drops_queued_audio_without_a_click() -> None:
    """The clock stalls (a loaded box) while the studio's audio keeps coming: more than the
    buffer's 300 ms queue up and the oldest are dropped. Cut, that jumps to another phase of
    the tone (up to 16000 a sample); spliced, it stays a tone (the CI click: 6363)."""
    mixer, feed = _studio_on_air()
    sent = 0
    out = []
    for tick in range(60):
        feed.push_audio(tone(sent, N, hz=1000))
        sent += N
        if 20 <= tick < 35:
            continue  # the clock is stalled for 15 ticks (0.5 s): no mix, the audio queues up
        out.append(mixer.mix({"a": feed})[:, 0].astype(np.int32))
    audio = np.concatenate(out)
    assert np.abs(np.diff(audio)).max() < 1200  # 1 kHz at 8000 moves <= 1047 a sample
    assert np.abs(audio[-N:]).max() > 7000  # and the tone is still there


def test_a_hole_in_the_program_timeline_is_entered_and_left_without_a_click() -> None:
    """Ticks the clock skipped (or the encoder's backlog dropped) become silence in the
    encoded audio: from the last sample down to it, and a fade-in after it, never a step."""
    fmt = ProgramFormat(width=320, height=180, fps=30)
    encoder = ProgramEncoder(fmt, threads=1)
    try:
        phase = 0
        out = []
        for tick in [*range(10), *range(25, 35)]:  # ticks 10-24 skipped
            t = (phase + np.arange(N)) / 48000
            phase += N
            block = np.repeat((8000 * np.sin(2 * np.pi * 1000 * t + 0.7)).astype(np.int16)[:, None], 2, axis=1)
            out += [chunk[:, 0].astype(np.int32) for _, chunk in encoder.audio_timeline(tick, block)]
    finally:
        encoder.stop()
    audio = np.concatenate(out)
    assert len(audio) == 35 * N  # the hole is filled: the timeline has every tick
    assert encoder.silence_filled_ticks == 15
    assert np.abs(np.diff(audio)).max() < 1200
    assert not audio[11 * N : 24 * N].any()  # silence in the hole


def test_a_solo_tap_hears_the_studio_before_gain_and_mute_and_leaves_the_mix_alone() -> None:
    """Solo (PFL): a muted, off-air studio's tap carries its whole tone; the program stays
    silent; a soloed studio that is not connected gives silence, every tick."""
    mixer = AudioMixer(48000, N)
    feed = FeedBuffer("a")
    mixer.set_on_air([], 1440)  # nobody on air
    mixer.set_levels({"a": -20.0}, frozenset({"a"}))  # and "a" muted too
    heard: dict[str, list[np.ndarray]] = {"a": [], "b": []}
    mixer.set_taps({s: heard[s].append for s in heard})
    sent = 0
    program = []
    for _ in range(30):
        feed.push_audio(tone(sent, N, hz=1000))
        sent += N
        program.append(mixer.mix({"a": feed}))
    solo = np.concatenate(heard["a"][10:])[:, 0]
    assert len(heard["a"]) == len(heard["b"]) == 30
    assert np.abs(solo).max() > 7900  # the tone at its own level (peak 8000): no gain, no mute
    assert not np.concatenate(heard["b"]).any()  # not connected: silence
    assert not np.concatenate(program).any()  # the program mix did not change
    mixer.set_taps({})
    feed.push_audio(tone(sent, N, hz=1000))
    mixer.mix({"a": feed})
    assert len(heard["a"]) == 30  # untapped: no more blocks
