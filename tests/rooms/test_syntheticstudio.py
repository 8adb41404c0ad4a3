"""Unit tests of the synthetic studio: certificate, pictures, tone, command line.

The end-to-end publish against the real WHIP endpoint lives with the server tests.
"""

from __future__ import annotations

import fractions
import stat
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from rooms.dtlscert import write_p256_certificate
from rooms.syntheticstudio import PublishError, SyntheticStudio, parse_args, spawn_studio
from rooms.testpattern import TestPattern, read_frame_counter, render_text, yuv420_planes
from rooms.testtone import AUDIO_RATE, AUDIO_SAMPLES, Tone
from tests.ports import free_port

W, H = 320, 180  # small frames keep the tests fast; the layout scales


def _encode_decode(frame: av.VideoFrame) -> av.VideoFrame:
    """One round trip through the studio's codec (x264 baseline) and FFmpeg's H.264 decoder."""
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = frame.width, frame.height, "yuv420p"
    enc.time_base = fractions.Fraction(1, 30)
    enc.options = {"preset": "veryfast", "tune": "zerolatency", "profile": "baseline"}
    frame.pts = 0
    packets = list(enc.encode(frame)) + list(enc.encode(None))
    dec = av.CodecContext.create("h264", "r")
    decoded = [f for p in packets for f in dec.decode(p)] + list(dec.decode(None))
    assert decoded, "decoder produced no frame"
    return decoded[0]


def test_certificate_is_p256_and_loads(tmp_path: Path) -> None:
    cert_path, key_path = write_p256_certificate(tmp_path)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    cert_key = cert.public_key()
    assert isinstance(cert_key, ec.EllipticCurvePublicKey)
    assert cert_key.public_numbers() == key.public_key().public_numbers()
    assert cert.issuer == cert.subject  # self-signed
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_red_pattern_is_red_after_decoding() -> None:
    frame = TestPattern("red", "ignored", W, H, 30).frame(0)
    y, u, v = yuv420_planes(_encode_decode(frame))
    # BT.601 limited range red: Y 81, Cb 90, Cr 240. Every pixel, not just the average.
    assert abs(float(y.mean()) - 81) < 3 and abs(float(u.mean()) - 90) < 3 and abs(float(v.mean()) - 240) < 3
    assert int(np.ptp(y)) <= 4 and int(np.ptp(v)) <= 4


def test_solid_colours_are_told_apart() -> None:
    means = {}
    for colour in ("red", "green", "blue"):
        y, u, v = yuv420_planes(TestPattern(colour, "", W, H, 30).frame(0))
        means[colour] = (int(y.mean()), int(u.mean()), int(v.mean()))
    assert len(set(means.values())) == 3
    assert means["blue"][1] > 200 and means["red"][2] > 200 and means["green"][0] > 140


def test_bars_change_between_frames_and_carry_the_frame_index() -> None:
    pattern = TestPattern("bars", "北京 Beijing", W, H, 30)
    first, second = pattern.frame(0, 1000.0), pattern.frame(1, 1000.0 + 1 / 30)
    assert not np.array_equal(yuv420_planes(first)[0], yuv420_planes(second)[0])
    # The counter squares survive a real encode/decode and a downscale.
    decoded = _encode_decode(pattern.frame(123456, 1000.0))
    assert read_frame_counter(yuv420_planes(decoded)[0], W, H) == 123456
    big = TestPattern("bars", "x", 1280, 720, 30).frame(777, 0.0).reformat(width=640, height=360)
    assert read_frame_counter(yuv420_planes(big)[0], 1280, 720) == 777


def test_a_portrait_pattern_draws_its_clock_inside_the_picture() -> None:
    """A 9:16 studio (a portrait show's demo studios, an upright phone) used to crash on every frame:
    the clock line was wider than the picture (``could not broadcast ... (102,64) into (102,16)``)."""
    pattern = TestPattern("bars", "北京 Beijing", 720, 1280, 30)
    noon, later = pattern.frame(5, 43_200.0), pattern.frame(5, 43_200.5)
    assert (noon.width, noon.height) == (720, 1280)
    diff = np.argwhere(yuv420_planes(noon)[0] != yuv420_planes(later)[0])
    assert diff.size  # the clock changed, within the picture's width with a margin
    assert diff[:, 1].min() > 0 and diff[:, 1].max() < 719
    decoded = _encode_decode(pattern.frame(4321, 0.0))
    assert read_frame_counter(yuv420_planes(decoded)[0], 720, 1280) == 4321


def test_bars_clock_shows_the_given_time() -> None:
    pattern = TestPattern("bars", "clock", W, H, 30)
    at_noon, a_bit_later = pattern.frame(5, 43_200.0), pattern.frame(5, 43_200.5)
    # Same index, other time: only the clock text differs.
    diff = np.argwhere(yuv420_planes(at_noon)[0] != yuv420_planes(a_bit_later)[0])
    assert diff.size
    assert diff[:, 0].min() >= int(H * 0.80) - 2 and diff[:, 0].max() <= int(H * 0.92) + 2


def test_label_renders_chinese_glyphs() -> None:
    size = 48
    bei, jing = np.asarray(render_text("北", size)), np.asarray(render_text("京", size))
    # U+10FFFD (private use) is in no font: it renders as the font's missing-glyph box.
    tofu = np.asarray(render_text("\U0010fffd", size))
    assert bei.max() == 255  # something was drawn
    assert bei.shape != tofu.shape or not np.array_equal(bei, tofu)
    assert bei.shape != jing.shape or not np.array_equal(bei, jing)  # two distinct glyphs, not two boxes
    # And the label reaches the picture.
    with_label = yuv420_planes(TestPattern("bars", "北京", W, H, 30).frame(0, 0.0))[0]
    with_tofu = yuv420_planes(TestPattern("bars", "\U0010fffd\U0010fffd", W, H, 30).frame(0, 0.0))[0]
    assert not np.array_equal(with_label, with_tofu)


def test_tone_is_a_continuous_sine_at_the_requested_pitch() -> None:
    tone = Tone(1000.0)
    frames = [tone.frame(i) for i in range(10)]
    assert all(f.sample_rate == AUDIO_RATE and f.samples == AUDIO_SAMPLES for f in frames)
    assert [f.pts for f in frames] == [i * AUDIO_SAMPLES for i in range(10)]
    samples = np.concatenate([f.to_ndarray().reshape(-1, 2) for f in frames])
    assert np.array_equal(samples[:, 0], samples[:, 1])  # same on both channels
    left = samples[:, 0].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(left * np.hanning(len(left))))
    peak_hz = np.argmax(spectrum) * AUDIO_RATE / len(left)
    assert abs(peak_hz - 1000.0) < 10
    assert np.abs(np.diff(left)).max() < 0.25 * 32767 * 2 * np.pi * 1000 / AUDIO_RATE * 1.05  # no phase jumps


def test_bad_pattern_and_size_are_refused() -> None:
    with pytest.raises(ValueError):
        TestPattern("pink", "x", W, H, 30)
    with pytest.raises(ValueError):
        TestPattern("bars", "x", 321, 180, 30)
    with pytest.raises(SystemExit):
        parse_args(["--whip-url=http://127.0.0.1:1/whip/a/b", "--token=t", "--size", "321x180"])


def test_command_line_round_trips() -> None:
    studio = SyntheticStudio(
        whip_url="http://127.0.0.1:8080/whip/wuhan-0510/beijing",
        token="-starts-with-a-dash",
        label="北京 Beijing",
        tone_hz=523.25,
        width=640,
        height=360,
        fps=25,
        pattern="green",
        duration=7.5,
        retry=True,
        exit_with_parent=True,
        verbose=False,
        own_certificate=False,
    )
    assert parse_args(studio.command()[3:]) == studio


def test_unreachable_server_is_one_readable_line() -> None:
    url = f"http://127.0.0.1:{free_port()}/whip/show/studio"
    studio = SyntheticStudio(whip_url=url, token="t", duration=1, verbose=False)
    with pytest.raises(PublishError, match="Connection refused"):
        studio.run()


def test_spawned_studio_exits_nonzero_when_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}/whip/show/studio"
    proc = spawn_studio(url, "t", "北京", duration=1, stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=20)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 1
    assert len(lines) == 1 and "Connection refused" in lines[0] and "北京" in lines[0]
