"""One interface for every program output (HLS, HTTP-FLV, WHEP, RTMP, file)."""

from __future__ import annotations

import abc
from typing import ClassVar, Literal

from mixer.encodedpacket import EncodedPacket, ProgramFormat


class Sink(abc.ABC):
    """An output fed by the show's single encode.

    ``put`` is called from the encoder thread for every packet and must never
    block: a sink that does I/O keeps its own bounded queue and worker, and a
    failing sink must not raise into the encoder.
    """

    name: str = "sink"
    # Which audio encode the sink is fed: AAC (HLS, FLV, RTMP, MP4) or Opus (WebRTC).
    audio_codec: ClassVar[Literal["aac", "opus"]] = "aac"
    # Whether the sink is fed ``data`` packets (timed metadata, mixer/timedmetadata.py) too.
    accepts_data: ClassVar[bool] = False
    # False for a sink that only wants the cues (the webhook): no video or audio is sent to it.
    wants_media: ClassVar[bool] = True

    @property
    def idle(self) -> bool:
        """True while nobody consumes this output: work done only for it may be skipped."""
        return False

    @abc.abstractmethod
    def start(self, fmt: ProgramFormat) -> None:
        """Called once, from the encoder thread, before the first packet."""

    @abc.abstractmethod
    def put(self, packet: EncodedPacket) -> None:
        """Take one packet; never blocks."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release resources; safe to call twice."""

    def status(self) -> dict[str, object]:
        return {"name": self.name}
