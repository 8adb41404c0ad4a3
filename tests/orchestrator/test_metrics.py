"""``/metrics`` (orchestrator/metrics.py): Prometheus text from prometheus_client, every public
metric name still there, the process's CPU, memory and file descriptors, and OpenMetrics for a
scraper that asks for it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.app import create_app
from tests.conftest import make_config

# The names dashboards, alerts, tests and docs rely on (before prometheus_client as after).
PUBLIC_NAMES = (
    "broadcast_program_ticks_total",
    "broadcast_program_late_ticks_total",
    "broadcast_program_skipped_ticks_total",
    "broadcast_program_tick_lag_seconds",
    "broadcast_program_configured_fps",
    "broadcast_program_output_fps",
    "broadcast_encoder_frames_total",
    "broadcast_encoder_dropped_total",
    "broadcast_encoder_queue",
    "broadcast_program_audio_silence_filled_seconds_total",
    "broadcast_studio_online",
    "broadcast_studio_video_frames_total",
    "broadcast_studio_fps",
    "broadcast_studio_bitrate_kbps",
    "broadcast_studio_packet_loss_percent",
    "broadcast_studio_jitter_ms",
    "broadcast_studio_rtt_ms",
    "broadcast_studio_video_packet_loss_percent",
    "broadcast_studio_decoded_fps",
    "broadcast_studio_nacks_total",
    "broadcast_studio_plis_total",
    "broadcast_studio_firs_total",
    "broadcast_studio_keyframes_total",
    "broadcast_studio_frames_dropped_total",
    "broadcast_studio_freezes_total",
    "broadcast_studio_freeze_ms_total",
    "broadcast_studio_socket_drops_total",
    "broadcast_studio_frames_not_decoded_total",
    "broadcast_studio_decode_standby",
    "broadcast_flv_readers",
    "broadcast_output_delay_seconds",
    "broadcast_output_behind_seconds",
    "broadcast_output_delay_held_bytes",
    "broadcast_output_dumps_total",
    "broadcast_output_up",
    "broadcast_output_bitrate_bps",
    "broadcast_output_fps",
    "broadcast_output_bytes_total",
    "broadcast_output_clients",
    "broadcast_output_uptime_seconds",
    "broadcast_output_errors_total",
    "broadcast_output_dropped_packets_total",
    "broadcast_output_second_encodes",
    "broadcast_crew_streams",
    "broadcast_crew_solo_encodes",
    "broadcast_return_feeds",
    "broadcast_talkbacks",
    "broadcast_talkbacks_open",
    "broadcast_store_writes_pending",
    "broadcast_store_write_retries_total",
    # the process collector
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
)


async def test_metrics_are_prometheus_text_with_every_name_and_the_process(tmp_path: Path, aiohttp_server: Any) -> None:
    srv = await aiohttp_server(create_app(make_config(tmp_path)), host="127.0.0.1")
    url = str(srv.make_url("/metrics"))
    async with aiohttp.ClientSession() as http:
        text = ""
        for _ in range(100):  # the clock ticks from the start; wait for a tick to be counted
            async with http.get(url) as res:
                assert res.status == 200
                assert res.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                text = await res.text()
            if 'broadcast_program_ticks_total{show="test-show"} 0.0' not in text:
                break
            await asyncio.sleep(0.1)
        families = {f.name: f for f in text_string_to_metric_families(text)}  # parses, or raises
        for name in PUBLIC_NAMES:
            assert f"# TYPE {name} " in text, name
        samples = {s.name: s for f in families.values() for s in f.samples}
        assert samples["process_resident_memory_bytes"].value > 10_000_000  # numpy, PyAV and aiortc are loaded
        assert samples["process_open_fds"].value >= 3
        assert samples["process_cpu_seconds_total"].value > 0
        ticks = [s for s in families["broadcast_program_ticks"].samples if s.name == "broadcast_program_ticks_total"]
        assert [s.labels for s in ticks] == [{"show": "test-show"}] and ticks[0].value >= 1
        studios = {s.labels["studio"]: s.value for s in families["broadcast_studio_online"].samples}
        assert studios == {"alpha": 0, "bravo": 0}
        output = {s.labels["output"] for s in families["broadcast_output_up"].samples}
        assert {"hls", "flv"} <= output, output
        # A scraper that asks for OpenMetrics gets it (and its end marker).
        async with http.get(url, headers={"Accept": "application/openmetrics-text; version=1.0.0"}) as res:
            assert res.status == 200 and res.headers["Content-Type"].startswith("application/openmetrics-text")
            assert (await res.text()).rstrip().endswith("# EOF")
