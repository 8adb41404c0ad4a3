"""A ring of decoded-picture slots in shared memory: how an ingest worker hands frames to the mixer.

One ring per studio session. The main process creates it (and alone unlinks it, so a worker
that dies leaves nothing in ``/dev/shm``); the worker attaches by name, copies each decoded
I420 picture into the next slot and says so over its pipe (``slot``, ``seq``); the main
process copies the slot into a fresh ``av.VideoFrame`` for the feed buffer. One copy on each
side, no pickling of pixels: a 720p I420 picture is 1.38 MB, and a copy costs ~0.1-0.2 ms
(bench/frameslots.py, docs/BENCHMARKS.md).

Each slot is guarded by a sequence number (a seqlock): odd while the worker writes, then the
picture's number. A reader that finds another number before or after its copy drops that
picture (the worker has lapped it: the newer one is already announced).

Slot layout: a 64-byte header (``seq`` u64, width u32, height u32, has_pts u8, pts i64,
time_base numerator and denominator i32), then the Y, U and V planes packed without padding.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import struct
import threading
from fractions import Fraction
from multiprocessing import shared_memory

import av
import numpy as np

HEADER = struct.Struct("<QIIBqii")
HEADER_BYTES = 64
SLOTS = 4  # at 30 fps the main process has ~100 ms to copy a picture before it is overwritten
MAX_WIDTH, MAX_HEIGHT = 1920, 1088  # a larger picture is scaled down to fit (in the worker)
NAME_PREFIX = "bcast-"


def picture_bytes(width: int, height: int) -> int:
    """Bytes of an I420 picture: Y plus two quarter-size chroma planes (odd sizes rounded up)."""
    return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)


def _copy_planes(frame: av.VideoFrame, slot: memoryview, into_slot: bool) -> None:
    """Copy the picture's planes into the slot (after its header, packed without padding) or out of it.

    The slot's arrays are this function's locals: gone when it returns, so the slot can be released.
    """
    offset = HEADER_BYTES
    for plane in frame.planes:
        w, h = plane.width, plane.height
        pixels = np.frombuffer(memoryview(plane), np.uint8).reshape(h, plane.line_size)[:, :w]
        stored = np.frombuffer(slot, np.uint8, w * h, offset).reshape(h, w)
        if into_slot:
            np.copyto(stored, pixels)
        else:
            np.copyto(pixels, stored)
        offset += w * h


class FrameSlots:
    """``SLOTS`` slots of up to ``MAX_WIDTH`` x ``MAX_HEIGHT`` I420 in one shared-memory segment."""

    SLOT_BYTES = HEADER_BYTES + picture_bytes(MAX_WIDTH, MAX_HEIGHT)

    def __init__(self, shm: shared_memory.SharedMemory, owner: bool) -> None:
        self._shm = shm
        self._owner = owner
        self._next = 0  # writer: the slot written next
        self._seq = 0  # writer: the last picture number written
        self._lock = threading.Lock()  # main process: a read and the close never overlap
        self._closed = False
        self.name = shm.name

    @classmethod
    def create(cls) -> FrameSlots:
        """A new ring (main process); pages are only used as pictures are written."""
        name = f"{NAME_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"  # whose it is, in /dev/shm
        return cls(shared_memory.SharedMemory(name, create=True, size=SLOTS * cls.SLOT_BYTES), owner=True)

    @classmethod
    def attach(cls, name: str) -> FrameSlots:
        """The ring the main process created (worker)."""
        return cls(shared_memory.SharedMemory(name), owner=False)

    def _slot(self, index: int) -> memoryview:
        start = index * self.SLOT_BYTES
        assert self._shm.buf is not None
        return self._shm.buf[start : start + self.SLOT_BYTES]

    # -- worker side --------------------------------------------------------------------
    def write(self, frame: av.VideoFrame) -> tuple[int, int]:
        """Copy an I420 picture into the next slot; returns (slot, seq) to announce.

        ``frame`` must be ``yuv420p`` and fit (``fits``); the caller converts it otherwise.
        """
        index, self._next = self._next, (self._next + 1) % SLOTS
        self._seq += 2
        seq = self._seq
        slot = self._slot(index)
        try:
            struct.pack_into("<Q", slot, 0, seq - 1)  # odd: being written
            _copy_planes(frame, slot, into_slot=True)
            tb = frame.time_base or Fraction(1, 90000)
            has_pts = frame.pts is not None
            header = (
                seq,
                frame.width,
                frame.height,
                has_pts,
                frame.pts if has_pts else 0,
                tb.numerator,
                tb.denominator,
            )
            HEADER.pack_into(slot, 0, *header)
        finally:
            slot.release()
        return index, seq

    @staticmethod
    def fits(frame: av.VideoFrame) -> bool:
        return frame.format.name == "yuv420p" and frame.width <= MAX_WIDTH and frame.height <= MAX_HEIGHT

    # -- main-process side ---------------------------------------------------------------
    def read(self, index: int, seq: int) -> av.VideoFrame | None:
        """The picture announced as (``index``, ``seq``), copied out; None if it was overwritten."""
        with self._lock:
            return None if self._closed else self._read(index, seq)

    def _read(self, index: int, seq: int) -> av.VideoFrame | None:
        slot = self._slot(index)
        try:
            seq_now, width, height, has_pts, pts, tb_num, tb_den = HEADER.unpack_from(slot, 0)
            if seq_now != seq:
                return None
            frame = av.VideoFrame(width, height, "yuv420p")
            _copy_planes(frame, slot, into_slot=False)
            if struct.unpack_from("<Q", slot, 0)[0] != seq:
                return None  # lapped while we copied: torn
        finally:
            slot.release()
        frame.pts = pts if has_pts else None
        frame.time_base = Fraction(tb_num, tb_den)
        return frame

    def close(self) -> None:
        """Detach; the owner (main process) also removes the segment from ``/dev/shm``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._shm.close()
        if self._owner:
            with contextlib.suppress(FileNotFoundError):
                self._shm.unlink()
