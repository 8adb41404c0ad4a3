"""ADTS framing of raw AAC frames (ISO/IEC 14496-3 1.A.2), for muxers that take no AAC extradata.

A codec-less MPEG-TS stream (PyAV's ``add_mux_stream``) cannot carry the AudioSpecificConfig, and
the TS muxer needs either that extradata or ADTS-framed audio.  So each raw frame gets the 7-byte
ADTS header built from the AudioSpecificConfig: what FFmpeg's TS muxer would do itself given the
extradata.
"""

from __future__ import annotations

from collections.abc import Callable


def adts_framer(audio_specific_config: bytes) -> Callable[[int], bytes]:
    """Return ``header(payload_size) -> 7 ADTS bytes`` for raw AAC frames of this config."""
    if len(audio_specific_config) < 2:
        raise ValueError("AudioSpecificConfig missing")
    asc = audio_specific_config
    object_type = asc[0] >> 3
    rate_index = ((asc[0] & 0x07) << 1) | (asc[1] >> 7)
    channels = (asc[1] >> 3) & 0x0F
    # ADTS has 2 bits of profile (AAC Main/LC/SSR/LTP), no explicit rate, no PCE.
    if not 1 <= object_type <= 4 or rate_index > 12 or not 1 <= channels <= 7:
        raise ValueError(f"AudioSpecificConfig {asc.hex()} cannot be framed as ADTS")
    b2 = ((object_type - 1) << 6) | (rate_index << 2) | (channels >> 2)
    b3 = (channels & 0x03) << 6

    def header(payload_size: int) -> bytes:
        n = payload_size + 7
        if n > 0x1FFF:
            raise ValueError(f"AAC frame of {payload_size} bytes is too big for ADTS")
        # sync 0xFFF, MPEG-4, no CRC; buffer fullness 0x7FF (VBR); one raw data block
        return bytes((0xFF, 0xF1, b2, b3 | (n >> 11), (n >> 3) & 0xFF, ((n & 0x07) << 5) | 0x1F, 0xFC))

    return header


def is_adts(data: bytes) -> bool:
    return len(data) > 7 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0
