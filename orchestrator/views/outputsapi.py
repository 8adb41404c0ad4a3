"""The operator's API for outputs: their status, RTMP destinations added and removed live, recording.

    GET    /api/shows/{show}/outputs                 every output's status
    GET    /api/shows/{show}/outputs/rtmp            RTMP destinations (stream keys hidden)
    POST   /api/shows/{show}/outputs/rtmp            {"name": "cdn-a", "url": "rtmp://host/app/key"} -> 201
    DELETE /api/shows/{show}/outputs/rtmp/{name}
    GET    /api/shows/{show}/recording
    POST   /api/shows/{show}/recording               {"on": true | false}
    POST   /api/shows/{show}/delay                   {"output": "hls", "delay_s": 10} (0-60)
    POST   /api/shows/{show}/dump                    the delayed outputs' held seconds -> the slate

Changes go to the audit trail (best effort: media never waits on the store).
Also here: the per-output rows of ``/metrics``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from mixer.outputs.egress import Egress
from orchestrator.bodies import DelayBody, EmptyBody, OnOffBody, RtmpBody
from orchestrator.errors import NotFound
from orchestrator.showrunner import ShowRunner
from orchestrator.views.common import body, operator_name, show_runner

log = logging.getLogger(__name__)


def _egress(runner: ShowRunner) -> Egress:
    if runner.egress is None:
        raise NotFound("the show's outputs are not running")
    return runner.egress


async def outputs(request: web.Request) -> web.Response:
    operator_name(request)
    described = await show_runner(request).describe()
    return web.json_response({"outputs": described["outputs"]})


async def list_rtmp(request: web.Request) -> web.Response:
    operator_name(request)
    egress = _egress(show_runner(request))
    return web.json_response({"destinations": [o.status() for o in egress.rtmp.values()]})


async def add_rtmp(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    asked = await body(request, RtmpBody)
    return web.json_response(await runner.add_rtmp(asked.name, asked.url, actor, asked.delay_s), status=201)


async def remove_rtmp(request: web.Request) -> web.Response:
    actor = operator_name(request)
    name = request.match_info["name"]
    await show_runner(request).remove_rtmp(name, actor)
    return web.json_response({"removed": name})


async def get_recording(request: web.Request) -> web.Response:
    operator_name(request)
    return web.json_response(_egress(show_runner(request)).recording_status())


async def set_recording(request: web.Request) -> web.Response:
    actor = operator_name(request)
    on = (await body(request, OnOffBody)).on
    return web.json_response(await show_runner(request).set_recording(on, actor))


async def set_delay(request: web.Request) -> web.Response:
    """One output's broadcast delay, while live: ``{"output": "hls", "delay_s": 10}``."""
    actor = operator_name(request)
    asked = await body(request, DelayBody)
    return web.json_response(await show_runner(request).set_delay(asked.output, asked.delay_s, actor))


async def dump(request: web.Request) -> web.Response:
    """Dump (broadcast delay): what the delayed outputs hold, not yet aired, becomes the slate."""
    actor = operator_name(request)
    await body(request, EmptyBody)
    return web.json_response(await show_runner(request).dump(actor))


# --- /metrics -----------------------------------------------------------------------------

MetricRows = list[tuple[dict[str, str], object]]


def _output_rows(runners: Iterable[ShowRunner]) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """(labels, status) for every output of every show."""
    rows: list[tuple[dict[str, str], dict[str, Any]]] = []
    for runner in runners:
        show = runner.show.id
        fixed: list[tuple[str, Any]] = [("hls", runner.hls), ("flv", runner.flv)]
        for kind, output in fixed:
            if output is not None:
                rows.append(({"show": show, "output": kind, "name": kind}, output.status()))
        egress = runner.egress
        if egress is None:
            continue
        if egress.whep is not None:
            rows.append(({"show": show, "output": "whep", "name": "whep"}, egress.whep.status()))
        for name, rtmp in egress.rtmp.items():
            rows.append(({"show": show, "output": "rtmp", "name": name}, rtmp.status()))
        rows.append(({"show": show, "output": "recording", "name": "recording"}, egress.recording_status()))
    return rows


def output_metrics(runners: Iterable[ShowRunner]) -> list[tuple[str, str, str, MetricRows]]:
    """(name, type, help, rows) for the outputs' Prometheus metrics."""
    runners = list(runners)
    rows = _output_rows(runners)

    def pick(key: str, default: object = 0) -> MetricRows:
        out: MetricRows = []
        for labels, status in rows:
            value = status.get(key, default)
            if value is None:
                continue
            out.append((labels, int(value) if isinstance(value, bool) else value))
        return out

    delays = [
        ({"show": runner.show.id, "output": key}, line)
        for runner in runners
        for key, line in runner.delays.status().items()
    ]

    def delay(key: str) -> MetricRows:
        return [(labels, status[key]) for labels, status in delays]

    return [
        ("broadcast_output_delay_seconds", "gauge", "Broadcast delay set for the output.", delay("delay_s")),
        (
            "broadcast_output_behind_seconds",
            "gauge",
            "How far the output is behind the live program.",
            delay("behind_s"),
        ),
        ("broadcast_output_delay_held_bytes", "gauge", "Bytes the output's delay holds.", delay("held_bytes")),
        ("broadcast_output_dumps_total", "counter", "Dumps of the output's delay.", delay("dumps")),
        ("broadcast_output_up", "gauge", "1 while the output delivers (RTMP live, file open).", pick("up")),
        ("broadcast_output_bitrate_bps", "gauge", "Bitrate going into the output, last 5 s.", pick("bitrate_bps")),
        ("broadcast_output_fps", "gauge", "Video frames per second going into the output, last 5 s.", pick("fps")),
        ("broadcast_output_bytes_total", "counter", "Media bytes written to the output.", pick("bytes_total")),
        ("broadcast_output_clients", "gauge", "Connected readers (FLV) or viewers (WHEP).", pick("clients", None)),
        (
            "broadcast_output_uptime_seconds",
            "gauge",
            "Seconds since the output (or connection) began.",
            pick("uptime_s"),
        ),
        ("broadcast_output_errors_total", "counter", "Errors of the output (refused offers for WHEP).", pick("errors")),
        ("broadcast_output_dropped_packets_total", "counter", "Packets the output dropped.", pick("dropped_packets")),
        (
            "broadcast_output_second_encodes",
            "gauge",
            "WHEP: extra encodes running (VP8, Constrained Baseline) for viewers without H.264 High.",
            pick("second_encodes", None),
        ),
    ]
