"""The hosts' return picture: one small, low-rate VP8 encode of the program, shared by every host.

A :class:`Sink` on the program encoder, never behind a broadcast delay (hosts
must see the program as it is made).  It costs nothing while idle: the
encode (:class:`mixer.outputs.viewerencoder.ViewerEncoder` with ``scale``:
decode the program's H.264, scale to :data:`LONG_SIDE` on the long side, VP8
real-time at :data:`BIT_RATE`) runs only between :meth:`ReturnPicture.start_encode`
and :meth:`ReturnPicture.stop_encode`, which the show's return feeds call
when their first host arrives and their last one leaves.  Every encoded
packet goes to ``on_packet`` in the encoder's worker thread.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from mixer.encodedpacket import EncodedPacket, ProgramFormat
from mixer.outputs.sink import Sink
from mixer.outputs.viewercodec import ViewerCodec
from mixer.outputs.viewerencoder import ViewerEncoder

log = logging.getLogger(__name__)

LONG_SIDE = 480  # 480x270 landscape, 270x480 portrait: a price card stays readable
BIT_RATE = 400_000  # bit/s, VP8 constant rate


def return_format(fmt: ProgramFormat) -> ProgramFormat:
    """The program's format scaled to the return picture (even sides, same aspect)."""
    scale = LONG_SIDE / max(fmt.width, fmt.height)
    width = max(2, round(fmt.width * scale / 2) * 2)
    height = max(2, round(fmt.height * scale / 2) * 2)
    return dataclasses.replace(fmt, width=width, height=height, video_bitrate=BIT_RATE)


class ReturnPicture(Sink):
    name = "return-picture"

    def __init__(self, on_packet: Callable[[EncodedPacket], None], request_source_keyframe: Callable[[], None]) -> None:
        self._on_packet = on_packet
        self._request_source_keyframe = request_source_keyframe
        self._fmt: ProgramFormat | None = None
        self._encoder: ViewerEncoder | None = None  # replaced whole: the encoder thread reads it unlocked
        self._wanted = False
        self.encodes_started = 0

    # --- encoder thread -------------------------------------------------------------
    @property
    def idle(self) -> bool:
        return self._encoder is None

    def start(self, fmt: ProgramFormat) -> None:
        self._fmt = fmt
        if self._wanted and self._encoder is None:
            self.start_encode()

    def put(self, packet: EncodedPacket) -> None:
        encoder = self._encoder
        if encoder is not None and packet.kind == "video":
            encoder.put(packet)

    def close(self) -> None:
        self.stop_encode()

    # --- event loop -------------------------------------------------------------------
    @property
    def format(self) -> ProgramFormat | None:
        return return_format(self._fmt) if self._fmt is not None else None

    def start_encode(self) -> None:
        """Start the shared encode (no-op if running; deferred until the program's format is known)."""
        self._wanted = True
        fmt = self._fmt
        if self._encoder is not None or fmt is None:
            return
        encoder = ViewerEncoder(
            ViewerCodec.VP8,
            return_format(fmt),
            self._on_packet,
            self._request_source_keyframe,
            scale=True,
            name="return",
        )
        self._encoder = encoder
        self.encodes_started += 1
        encoder.start()
        log.info("return picture encode started (%dx%d VP8)", encoder.fmt.width, encoder.fmt.height)

    def stop_encode(self) -> ViewerEncoder | None:
        """Stop it (no host has a return feed any more); returns the encoder, to join if wanted."""
        self._wanted = False
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            encoder.stop()
            log.info("return picture encode stopped")
        return encoder

    def request_keyframe(self) -> None:
        encoder = self._encoder
        if encoder is not None:
            encoder.request_keyframe()

    def status(self) -> dict[str, object]:
        encoder = self._encoder
        return {
            "name": self.name,
            "running": encoder is not None,
            "encodes_started": self.encodes_started,
            **({"encode": encoder.status()} if encoder is not None else {}),
        }
