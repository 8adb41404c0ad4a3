"""The shared-memory frame slots between an ingest worker and the mixer (rooms/frameslots.py)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np

from rooms.frameslots import SLOTS, FrameSlots


def picture(width: int, height: int, seed: int) -> av.VideoFrame:
    rng = np.random.default_rng(seed)
    planes = rng.integers(0, 255, (height * 3 // 2, width), np.uint8)
    frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    frame.pts, frame.time_base = 1000 + seed, Fraction(1, 90000)
    return frame


@contextlib.contextmanager
def _ring_and_writer() -> Iterator[tuple[FrameSlots, FrameSlots]]:
    """A new ring, and a writer attached to it by name as an ingest worker is; both closed after."""
    ring = FrameSlots.create()
    writer = FrameSlots.attach(ring.name)
    try:
        yield ring, writer
    finally:
        writer.close()
        ring.close()


def test_a_picture_crosses_unchanged_with_its_timing() -> None:
    with _ring_and_writer() as (ring, writer):
        for seed, (w, h) in enumerate([(1280, 720), (640, 360), (1920, 1080), (320, 180)]):
            sent = picture(w, h, seed)
            got = ring.read(*writer.write(sent))
            assert got is not None
            assert (got.width, got.height, got.pts, got.time_base) == (w, h, sent.pts, sent.time_base)
            assert np.array_equal(got.to_ndarray(), sent.to_ndarray())


def test_a_lapped_slot_is_refused_not_torn() -> None:
    with _ring_and_writer() as (ring, writer):
        first = writer.write(picture(640, 360, 1))
        for seed in range(SLOTS):  # the writer comes round to the first slot again
            writer.write(picture(640, 360, 2 + seed))
        assert ring.read(*first) is None
        slot, seq = first
        # a picture being written (odd sequence number) is refused too
        ring_view = np.frombuffer(ring._shm.buf, np.uint64, 1, slot * FrameSlots.SLOT_BYTES)  # noqa: SLF001
        ring_view[0] = seq + 2 * SLOTS + 1
        del ring_view
        assert ring.read(slot, seq + 2 * SLOTS) is None


def test_the_owner_removes_the_segment_and_reads_after_close_are_empty() -> None:
    ring = FrameSlots.create()
    writer = FrameSlots.attach(ring.name)
    announced = writer.write(picture(640, 360, 3))
    writer.close()
    assert os.path.exists(f"/dev/shm/{ring.name}")
    ring.close()
    assert not os.path.exists(f"/dev/shm/{ring.name}")
    assert ring.read(*announced) is None
    ring.close()  # twice is harmless


def test_other_pixel_formats_are_not_written_as_they_are() -> None:
    rgb = av.VideoFrame.from_ndarray(np.zeros((360, 640, 3), np.uint8), format="rgb24")
    assert not FrameSlots.fits(rgb)
    assert not FrameSlots.fits(picture(3840, 2160, 0))
    assert FrameSlots.fits(picture(1920, 1080, 0))
