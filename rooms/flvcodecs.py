"""Which FLV codecs an RTMP studio may send: H.264 (AVC) video and AAC audio, and why not the others.

RTMP audio/video messages carry an FLV tag's body (Adobe "Video File Format Specification" 10,
E.4.2-E.4.3); enhanced RTMP (veovera "Enhanced RTMP" v1/v2) marks its own tags with a bit and a FourCC.
"""

from __future__ import annotations

AVC, AAC = 7, 10
# Adobe "Video File Format Specification" 10, E.4.3.1 (VIDEODATA CodecID) and E.4.2.1 (AUDIODATA SoundFormat);
# 12 = HEVC is the unofficial extension some Chinese CDNs use.
VIDEO_CODECS = {
    1: "JPEG", 2: "Sorenson H.263", 3: "Screen video", 4: "On2 VP6", 5: "On2 VP6 with alpha",
    6: "Screen video v2", 7: "AVC", 12: "HEVC (unofficial codec id 12)",
}  # fmt: skip
AUDIO_FORMATS = {
    0: "PCM", 1: "ADPCM", 2: "MP3", 3: "PCM little-endian", 4: "Nellymoser 16 kHz", 5: "Nellymoser 8 kHz",
    6: "Nellymoser", 7: "G.711 A-law", 8: "G.711 mu-law", 9: "enhanced RTMP audio", 10: "AAC", 11: "Speex",
    14: "MP3 8 kHz", 15: "device-specific",
}  # fmt: skip


def codec_problem(type_id: int, payload: bytes) -> str | None:
    """Why an RTMP audio (8) or video (9) payload's codec cannot be used here, or None when it can.

    Enhanced RTMP (veovera "Enhanced RTMP" v1/v2): bit 0x80 of the first video byte is
    ``IsExHeader``; the low 4 bits are then a packet type and bytes 1-4 the codec's FourCC. Audio
    SoundFormat 9 is the same for audio (FourCC after the first byte).
    """
    if not payload:
        return None
    if type_id == 9:
        if payload[0] & 0x80:
            fourcc = payload[1:5].decode("ascii", "replace")
            return f"video codec {fourcc!r} (enhanced RTMP) is not supported: send H.264 (AVC)"
        codec = payload[0] & 0x0F
        if codec != AVC:
            name = VIDEO_CODECS.get(codec, "unknown")
            return f"video codec id {codec} ({name}) is not supported: send H.264 (AVC)"
        return None
    sound = payload[0] >> 4
    if sound == 9:
        fourcc = payload[1:5].decode("ascii", "replace")
        return f"audio codec {fourcc!r} (enhanced RTMP) is not supported: send AAC"
    if sound != AAC:
        return f"audio format {sound} ({AUDIO_FORMATS.get(sound, 'unknown')}) is not supported: send AAC"
    return None
