"""The public metric families of ``/metrics``: names, types, help texts and the status keys they
read (studio, program, output, delay), and how a family is built from (labels, value) rows.

Names and labels are part of the public interface (dashboards and alerts rely on them):
rename none. The collector that reads the live state into them: ``metrics.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

Rows = list[tuple[dict[str, str], object]]  # (labels, value); a value that is no number: no sample

# What a studio's stream looks like on arrival (WhipSession.stats keys).
STUDIO_GAUGES = (
    ("fps", "broadcast_studio_fps", "Video frames per second received from the studio."),
    ("bitrate_kbps", "broadcast_studio_bitrate_kbps", "Bitrate received from the studio (audio and video)."),
    ("packet_loss_pct", "broadcast_studio_packet_loss_percent", "RTP packets lost on the way, last second."),
    ("jitter_ms", "broadcast_studio_jitter_ms", "Video RTP interarrival jitter."),
    ("rtt_ms", "broadcast_studio_rtt_ms", "Round-trip time the studio's browser measures."),
    ("video_packet_loss_pct", "broadcast_studio_video_packet_loss_percent", "Video RTP packets lost, last second."),
    ("decoded_fps", "broadcast_studio_decoded_fps", "Decoded pictures per second handed to the mixer."),
)
# Cumulative repair and freeze counters of the studio's session (rooms/ingeststats.py).
STUDIO_COUNTERS = (
    ("nacks_sent", "broadcast_studio_nacks_total", "RTCP NACKs sent to the studio."),
    ("plis_sent", "broadcast_studio_plis_total", "Keyframe requests (RTCP PLI) sent to the studio."),
    ("firs_sent", "broadcast_studio_firs_total", "Keyframe requests (RTCP FIR) sent to the studio."),
    ("keyframes_received", "broadcast_studio_keyframes_total", "Keyframes received from the studio."),
    ("frames_dropped", "broadcast_studio_frames_dropped_total", "Whole frames dropped: their references were lost."),
    ("freezes", "broadcast_studio_freezes_total", "Gaps over 200 ms between decoded pictures."),
    ("freeze_ms", "broadcast_studio_freeze_ms_total", "Time spent in those gaps."),
    ("socket_drops", "broadcast_studio_socket_drops_total", "Datagrams dropped at our socket (buffer full)."),
    ("frames_not_decoded", "broadcast_studio_frames_not_decoded_total", "Whole frames received, not decoded."),
)
# The program clock and the encoder (Program.stats keys), one row per show.
PROGRAM = (
    ("ticks", "counter", "broadcast_program_ticks_total", "Program clock ticks."),
    ("late_ticks", "counter", "broadcast_program_late_ticks_total", "Ticks that started more than one period late."),
    (
        "skipped_ticks",
        "counter",
        "broadcast_program_skipped_ticks_total",
        "Ticks the clock skipped after a stall (their time passes with no frame).",
    ),
)
PROGRAM_RATES = (
    (
        "configured_fps",
        "gauge",
        "broadcast_program_configured_fps",
        "The show's frame rate: the program clock's ticks per second.",
    ),
    (
        "output_fps",
        "gauge",
        "broadcast_program_output_fps",
        "Frames per second actually encoded, last 5 s: below the configured rate when overloaded.",
    ),
    ("encoded_frames", "counter", "broadcast_encoder_frames_total", "Frames encoded by the show's one encoder."),
    (
        "encoder_dropped",
        "counter",
        "broadcast_encoder_dropped_total",
        "Pictures dropped because the encoder fell behind (their audio is kept).",
    ),
    ("encoder_queue", "gauge", "broadcast_encoder_queue", "Ticks waiting for the encoder."),
)
# Every output's status() keys: (key, type, name, help, value when the key is absent; None: no row).
OUTPUT = (
    ("up", "gauge", "broadcast_output_up", "1 while the output delivers (RTMP live, file open).", 0),
    ("bitrate_bps", "gauge", "broadcast_output_bitrate_bps", "Bitrate going into the output, last 5 s.", 0),
    ("fps", "gauge", "broadcast_output_fps", "Video frames per second going into the output, last 5 s.", 0),
    ("bytes_total", "counter", "broadcast_output_bytes_total", "Media bytes written to the output.", 0),
    ("clients", "gauge", "broadcast_output_clients", "Connected readers (FLV) or viewers (WHEP).", None),
    ("uptime_s", "gauge", "broadcast_output_uptime_seconds", "Seconds since the output (or connection) began.", 0),
    ("errors", "counter", "broadcast_output_errors_total", "Errors of the output (refused offers for WHEP).", 0),
    ("dropped_packets", "counter", "broadcast_output_dropped_packets_total", "Packets the output dropped.", 0),
    (
        "second_encodes",
        "gauge",
        "broadcast_output_second_encodes",
        "WHEP: extra encodes running (VP8, Constrained Baseline) for viewers without H.264 High.",
        None,
    ),
)
# Each delayed output's delay line (Delays.status() keys).
DELAY = (
    ("delay_s", "gauge", "broadcast_output_delay_seconds", "Broadcast delay set for the output."),
    ("behind_s", "gauge", "broadcast_output_behind_seconds", "How far the output is behind the live program."),
    ("held_bytes", "gauge", "broadcast_output_delay_held_bytes", "Bytes the output's delay holds."),
    ("dumps", "counter", "broadcast_output_dumps_total", "Dumps of the output's delay."),
)


def family(kind: str, name: str, help_text: str, rows: Rows) -> Metric:
    """One metric family of ``kind`` (``counter`` or ``gauge``); every row has the same label names.

    Label order is the order of the first row's labels (kept, as scrapers' regexes see it).
    """
    labels = list(rows[0][0]) if rows else []
    made: CounterMetricFamily | GaugeMetricFamily
    if kind == "counter":
        made = CounterMetricFamily(name, help_text, labels=labels)
    else:
        made = GaugeMetricFamily(name, help_text, labels=labels)
    for row_labels, value in rows:
        number = _number(value)
        if number is not None:
            made.add_metric(list(row_labels.values()), number)
    return made


def _number(value: object) -> float | None:
    """A status value as a sample: booleans as 0/1; None (and non-numbers) as no sample."""
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) else None


def listed(value: object) -> list[object]:
    """A status value that should be a list; anything else as an empty one."""
    return value if isinstance(value, list) else []


def picked(rows: Sequence[tuple[dict[str, str], Mapping[str, object]]], key: str, default: object) -> Rows:
    """(labels, ``status[key]``, or ``default`` where the status has no such key) of every row."""
    return [(labels, status.get(key, default)) for labels, status in rows]
