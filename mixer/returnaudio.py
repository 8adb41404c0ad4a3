"""The return mixes as Opus: one encode per studio with a return feed, in one thread of its own.

The clock thread hands each tick's mixes (``{studio: (n, 2) int16}``, from
:class:`mixer.mixminus.MixMinus`) to :meth:`ReturnAudioEncoder.submit`, which
only queues: a bounded deque of :data:`QUEUE_TICKS` ticks, the oldest dropped
when full (a late return is worth nothing in a conversation). The worker encodes
each studio's samples with its own :class:`mixer.opusencoder.OpusEncoder`
(20 ms packets, 48 kHz stereo) and hands every packet to ``on_packet(studio, packet)``
in the worker thread (the caller posts it to its event loop).  An encoder whose
studio has had no mix for a tick is dropped; it restarts at pts 0.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from mixer.encodedpacket import EncodedPacket
from mixer.opusencoder import OpusEncoder
from mixer.stagethread import StageThread

log = logging.getLogger(__name__)

QUEUE_TICKS = 6  # 200 ms at 30 fps: beyond that the oldest tick goes
BIT_RATE = 64_000  # Opus stereo speech and program sound, per return


class ReturnAudioEncoder(StageThread):
    def __init__(self, sample_rate: int, on_packet: Callable[[str, EncodedPacket], None]) -> None:
        self.sample_rate = sample_rate
        self._on_packet = on_packet
        self._queue: collections.deque[dict[str, np.ndarray]] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="return-audio-encoder", daemon=True)
        self.dropped_ticks = 0
        self.packets = 0
        self.encoders = 0  # live Opus encoders (one per studio with a return)
        self.busy_seconds = 0.0
        self.ticks = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, mixes: dict[str, np.ndarray]) -> None:
        """One tick's return mixes (clock thread); never blocks."""
        with self._cond:
            if self._closed:
                return
            if len(self._queue) >= QUEUE_TICKS:
                self._queue.popleft()
                self.dropped_ticks += 1
            self._queue.append(mixes)
            self._cond.notify()

    def stop(self) -> None:
        """Ends the worker (it frees its codecs); does not wait."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        encoders: dict[str, OpusEncoder] = {}
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closed:
                        self._cond.wait(1.0)
                    if self._closed:
                        return
                    items = list(self._queue)
                    self._queue.clear()
                t0 = time.perf_counter()
                for mixes in items:
                    for gone in set(encoders) - set(mixes):
                        del encoders[gone]
                    for studio_id, samples in mixes.items():
                        encoder = encoders.get(studio_id)
                        if encoder is None:
                            encoder = encoders[studio_id] = OpusEncoder(self.sample_rate, BIT_RATE, start_pts=0)
                        for packet in encoder.encode(samples):
                            self.packets += 1
                            self._on_packet(studio_id, packet)
                    self.encoders = len(encoders)
                    self.ticks += 1
                self.busy_seconds += time.perf_counter() - t0
        except Exception:
            log.exception("return audio encoder failed")
        finally:
            encoders.clear()
            self.encoders = 0

    def status(self) -> dict[str, object]:
        return {
            "running": self.running,
            "encoders": self.encoders,
            "packets": self.packets,
            "dropped_ticks": self.dropped_ticks,
            "ms_per_tick": round(1000 * self.busy_seconds / self.ticks, 3) if self.ticks else None,
        }
