"""Solo (pre-fader listen, PFL): one studio's decoded audio as Opus, for the crew's headphones.

The audio mixer hands this encode each tick's input block of one studio
(:meth:`AudioMixer.set_taps`): after its jitter buffer, before gain, mute and the
on-air crossfade, so the director hears the studio as it arrives whether it is on
air, muted or faded down, and the program mix is untouched.  One encode per
soloed studio, shared by every operator listening to it.

Threads: :meth:`SoloEncode.put` runs in the program clock's thread and only
appends to a bounded queue (the oldest block is dropped when the worker falls
behind: live, not late); the Opus encode runs in this encode's own worker thread,
which hands each packet to ``deliver`` (the caller posts it to its event loop).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from mixer.encodedpacket import EncodedPacket
from mixer.opusencoder import OpusEncoder

log = logging.getLogger(__name__)

QUEUE_BLOCKS = 15  # ticks: 0.5 s at 30 fps; beyond that the oldest is dropped
BIT_RATE = 64_000  # Opus, stereo: speech and programme sound for a monitor


class SoloEncode:
    def __init__(self, studio_id: str, sample_rate: int, deliver: Callable[[EncodedPacket], None]) -> None:
        self.studio_id = studio_id
        self.sample_rate = sample_rate
        self._deliver = deliver
        self._queue: deque[np.ndarray] = deque()
        self._ready = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"solo-{studio_id}", daemon=True)
        self.blocks = 0
        self.dropped = 0  # blocks thrown away because the worker fell behind
        self.packets = 0
        self.cpu_s = 0.0  # the worker thread's CPU time (time.thread_time)
        self.started_at = time.monotonic()

    def start(self) -> None:
        self._thread.start()

    def put(self, block: np.ndarray) -> None:
        """Program clock thread: one tick's (n, 2) int16 block; never blocks."""
        with self._ready:
            if len(self._queue) >= QUEUE_BLOCKS:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(block)
            self._ready.notify()

    def stop(self, timeout: float = 2.0) -> None:
        """Any thread but the worker: end the worker and wait for it (bounded)."""
        with self._ready:
            self._stopped = True
            self._ready.notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        encoder = OpusEncoder(self.sample_rate, BIT_RATE, start_pts=0)
        while True:
            with self._ready:
                while not self._queue and not self._stopped:
                    self._ready.wait()
                if self._stopped:
                    break
                blocks = list(self._queue)
                self._queue.clear()
            started = time.thread_time()
            try:
                packets = [p for block in blocks for p in encoder.encode(block)]
            except Exception:
                log.exception("solo %s: Opus encode failed; restarting the encoder", self.studio_id)
                encoder = OpusEncoder(self.sample_rate, BIT_RATE, start_pts=0)
                continue
            finally:
                self.cpu_s += time.thread_time() - started
            self.blocks += len(blocks)
            self.packets += len(packets)
            for packet in packets:
                self._deliver(packet)

    def status(self) -> dict[str, object]:
        running = max(1e-6, time.monotonic() - self.started_at)
        return {
            "studio": self.studio_id,
            "blocks": self.blocks,
            "packets": self.packets,
            "dropped_blocks": self.dropped,
            "cpu_cores": round(self.cpu_s / running, 4),
        }
