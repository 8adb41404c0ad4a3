"""H.264 bitstream helpers (ITU-T H.264 Annex B, ISO/IEC 14496-15): NAL units and the avcC record.

Pure byte work shared by the FLV writer, the remuxer and the WHEP output.
"""

from __future__ import annotations

NAL_SLICE = 1
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9
NAL_FILLER = 12

# Profiles whose SPS carries chroma/bit-depth fields; ISO 14496-15 wants them
# repeated at the end of the avcC for these.
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})

_START_CODE = b"\x00\x00\x01"


class H264Error(ValueError):
    """A bitstream this module cannot read (a truncated SPS, a bad exp-Golomb code, no SPS/PPS)."""


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex B access unit, start codes removed.

    Emulation prevention guarantees 00 00 01 never occurs inside a NAL, so a
    plain split is exact; trailing zeros belong to the next 4-byte start code
    (a NAL's last byte is never 0 thanks to its rbsp trailing bits).
    """
    parts = data.split(_START_CODE)
    return [p.rstrip(b"\x00") for p in parts[1:] if p.strip(b"\x00")]


def nal_type(nal: bytes) -> int:
    """nal_unit_type (ITU-T H.264 7.3.1) of a NAL without its start code."""
    return nal[0] & 0x1F


def unescape(nal: bytes) -> bytes:
    """RBSP of a NAL: drop emulation-prevention 03 bytes."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


class BitReader:
    """Big-endian bits of an RBSP, with exp-Golomb ``ue(v)`` (ITU-T H.264 9.1); H264Error past the end."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = len(data) * 8

    def bits(self, n: int) -> int:
        if n > self._left:
            raise H264Error("truncated SPS")
        self._left -= n
        return (self._value >> self._left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.bits(1) == 0:
            zeros += 1
            if zeros > 31:
                raise H264Error("bad exp-Golomb code in SPS")
        return (1 << zeros) - 1 + self.bits(zeros)


def avc_decoder_config(sps_list: list[bytes], pps_list: list[bytes]) -> bytes:
    """AVCDecoderConfigurationRecord (ISO 14496-15, 5.2.4.1) with 4-byte NAL lengths."""
    if not sps_list or not pps_list:
        raise H264Error("AVC sequence header needs at least one SPS and one PPS")
    sps = sps_list[0]
    if len(sps) < 4:
        raise H264Error("SPS too short")
    profile, compat, level = sps[1], sps[2], sps[3]
    out = bytearray([1, profile, compat, level, 0xFC | 3, 0xE0 | len(sps_list)])
    for s in sps_list:
        out += len(s).to_bytes(2, "big") + s
    out.append(len(pps_list))
    for p in pps_list:
        out += len(p).to_bytes(2, "big") + p
    if profile in _HIGH_PROFILES:
        reader = BitReader(unescape(sps[4:]))
        reader.ue()  # seq_parameter_set_id
        chroma_format = reader.ue()
        if chroma_format == 3:
            reader.bits(1)  # separate_colour_plane_flag
        depth_luma = reader.ue()
        depth_chroma = reader.ue()
        out += bytes([0xFC | chroma_format, 0xF8 | depth_luma, 0xF8 | depth_chroma, 0])  # 0 SPS-ext
    return bytes(out)
