"""The return mixes without a network: exact mix-minus, talkback only to its targets, ducking."""

from __future__ import annotations

import numpy as np

from mixer.audiomixer import AudioMixer
from mixer.feedbuffer import FeedBuffer
from mixer.mixminus import DUCK_DB, MixMinus, Talk
from rooms.testtone import Tone

RATE, FPS = 48_000, 30
SPT = RATE // FPS


def _run(ticks: int, minus: MixMinus, mixer: AudioMixer, feeds: dict[str, FeedBuffer], tones: dict[str, Tone],
         sent: list[int]) -> list[dict[str, np.ndarray]]:  # fmt: skip
    out: list[dict[str, np.ndarray]] = []
    minus.on_mix = out.append
    for _ in range(ticks):
        sent[1] += 1  # the tick number, over every call
        n = sent[1]
        while sent[0] * 960 < (n + 1) * SPT:  # every FIFO stays near its target depth (no drift correction)
            for sid, feed in feeds.items():
                feed.push_audio(tones[sid].frame(sent[0]))
            sent[0] += 1
        mixer.keep_parts = minus.active
        mixer.mix({sid: f for sid, f in feeds.items() if not sid.startswith("talk")})
        minus.tick(mixer)
    return out


def _level(blocks: list[np.ndarray], hz: float) -> float:
    x = np.concatenate(blocks)[:, 0].astype(np.float64)
    t = np.arange(len(x)) / RATE
    return float(2 * abs(np.mean(x * np.exp(-2j * np.pi * hz * t))))  # amplitude of that sine


def test_each_studio_hears_the_others_never_itself_and_talkback_only_where_sent() -> None:
    mixer, minus = AudioMixer(RATE, SPT), MixMinus(RATE, SPT)
    feeds = {sid: FeedBuffer(sid) for sid in ("a", "b", "c", "talk")}
    tones = {"a": Tone(440, 0.2), "b": Tone(1000, 0.2), "c": Tone(1500, 0.2), "talk": Tone(2000, 0.2)}
    mixer.set_on_air(["a", "b"], 1)  # c is off air: in no one's return
    minus.set_returns(frozenset({"a", "b", "c"}))
    minus.set_talks({"t1": Talk(feeds["talk"], "liu", frozenset({"a"}), on=False)})
    sent = [0, 0]  # 20 ms frames pushed, ticks run
    _run(30, minus, mixer, feeds, tones, sent)  # past the jitter buffers' prefill
    quiet = _run(30, minus, mixer, feeds, tones, sent)
    full = 0.2 * 32767
    a = [m["a"] for m in quiet]
    assert _level(a, 1000) > 0.9 * full and _level(a, 440) < 1e-3 * full  # b, not itself
    c = [m["c"] for m in quiet]
    assert _level(c, 440) > 0.9 * full and _level(c, 1000) > 0.9 * full  # off air: the whole program
    assert all(_level([m[s] for m in quiet], 2000) < 1e-3 * full for s in "abc")  # not keyed: nobody
    minus.set_talks({"t1": Talk(feeds["talk"], "liu", frozenset({"a"}), on=True)})
    _run(5, minus, mixer, feeds, tones, sent)  # the duck's 50 ms ramp
    talking = _run(30, minus, mixer, feeds, tones, sent)
    a, b = [m["a"] for m in talking], [m["b"] for m in talking]
    assert _level(a, 2000) > 0.9 * full  # the target hears the operator
    assert _level(b, 2000) < 1e-3 * full  # the other does not
    ducked = 20 * np.log10(_level(a, 1000) / full)
    assert abs(ducked - DUCK_DB) < 1.0, ducked  # the program under the voice, -15 dB
    assert _level(b, 440) > 0.9 * full  # b's return is not ducked
