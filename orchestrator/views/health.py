"""Liveness and Prometheus metrics (no auth: scraped from inside the network)."""

from __future__ import annotations

from aiohttp import web

from orchestrator.appkeys import CLUSTER, SHOWS
from orchestrator.views.outputsapi import output_metrics


async def healthz(request: web.Request) -> web.Response:
    shows = {}
    healthy = True
    for show_id, runner in request.app[SHOWS].items():
        stats = runner.program.stats()
        shows[show_id] = {
            "ticks": stats["ticks"],
            "fps": stats["fps"],
            "output_fps": stats["output_fps"],
            "on_air": stats["on_air"],
        }
        healthy &= runner.program.running
    return web.json_response(
        {"status": "ok" if healthy else "degraded", "shows": shows}, status=200 if healthy else 503
    )


def _line(name: str, labels: dict[str, str], value: object) -> str:
    text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{text}}} {value}"


# What a studio's stream looks like on arrival (WhipSession.stats keys).
_STUDIO_GAUGES = (
    ("fps", "broadcast_studio_fps", "Video frames per second received from the studio."),
    ("bitrate_kbps", "broadcast_studio_bitrate_kbps", "Bitrate received from the studio (audio and video)."),
    ("packet_loss_pct", "broadcast_studio_packet_loss_percent", "RTP packets lost on the way, last second."),
    ("jitter_ms", "broadcast_studio_jitter_ms", "Video RTP interarrival jitter."),
    ("rtt_ms", "broadcast_studio_rtt_ms", "Round-trip time the studio's browser measures."),
    ("video_packet_loss_pct", "broadcast_studio_video_packet_loss_percent", "Video RTP packets lost, last second."),
    ("decoded_fps", "broadcast_studio_decoded_fps", "Decoded pictures per second handed to the mixer."),
)
# Cumulative repair and freeze counters of the studio's session (rooms/ingeststats.py).
_STUDIO_COUNTERS = (
    ("nacks_sent", "broadcast_studio_nacks_total", "RTCP NACKs sent to the studio."),
    ("plis_sent", "broadcast_studio_plis_total", "Keyframe requests (RTCP PLI) sent to the studio."),
    ("firs_sent", "broadcast_studio_firs_total", "Keyframe requests (RTCP FIR) sent to the studio."),
    ("keyframes_received", "broadcast_studio_keyframes_total", "Keyframes received from the studio."),
    ("frames_dropped", "broadcast_studio_frames_dropped_total", "Whole frames dropped: their references were lost."),
    ("freezes", "broadcast_studio_freezes_total", "Gaps over 200 ms between decoded pictures."),
    ("freeze_ms", "broadcast_studio_freeze_ms_total", "Time spent in those gaps."),
)


async def metrics(request: web.Request) -> web.Response:
    out: list[str] = []

    def metric(name: str, kind: str, help_text: str, rows: list[tuple[dict[str, str], object]]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(_line(name, labels, value) for labels, value in rows)

    runners = list(request.app[SHOWS].values())
    stats = {r.show.id: r.program.stats() for r in runners}
    metric(
        "broadcast_program_ticks_total",
        "counter",
        "Program clock ticks.",
        [({"show": s}, st["ticks"]) for s, st in stats.items()],
    )
    metric(
        "broadcast_program_late_ticks_total",
        "counter",
        "Ticks that started more than one period late.",
        [({"show": s}, st["late_ticks"]) for s, st in stats.items()],
    )
    metric(
        "broadcast_program_skipped_ticks_total",
        "counter",
        "Ticks the clock skipped after a stall (their time passes with no frame).",
        [({"show": s}, st["skipped_ticks"]) for s, st in stats.items()],
    )
    metric(
        "broadcast_program_tick_lag_seconds",
        "gauge",
        "How late the last tick started after its due time.",
        [({"show": r.show.id}, round(r.program.lag, 4)) for r in runners],
    )
    metric(
        "broadcast_program_configured_fps",
        "gauge",
        "The show's frame rate: the program clock's ticks per second.",
        [({"show": s}, st["configured_fps"]) for s, st in stats.items()],
    )
    metric(
        "broadcast_program_output_fps",
        "gauge",
        "Frames per second actually encoded, last 5 s: below the configured rate when overloaded.",
        [({"show": s}, st["output_fps"]) for s, st in stats.items()],
    )
    metric(
        "broadcast_encoder_frames_total",
        "counter",
        "Frames encoded by the show's one encoder.",
        [({"show": s}, st["encoded_frames"]) for s, st in stats.items()],
    )
    metric(
        "broadcast_encoder_dropped_total",
        "counter",
        "Pictures dropped because the encoder fell behind (their audio is kept).",
        [({"show": s}, st["encoder_dropped"]) for s, st in stats.items()],
    )
    metric(
        "broadcast_encoder_queue",
        "gauge",
        "Ticks waiting for the encoder.",
        [({"show": s}, st["encoder_queue"]) for s, st in stats.items()],
    )
    metric(
        "broadcast_program_audio_silence_filled_seconds_total",
        "counter",
        "Program audio filled with silence where the timeline had none (skipped ticks).",
        [({"show": r.show.id}, r.program.encoder.silence_filled_ticks / r.program.fmt.fps) for r in runners],
    )
    # Talk and listen (orchestrator/returnfeeds.py).
    metric(
        "broadcast_return_feeds",
        "gauge",
        "Hosts' return feeds open (mix-minus sound and the return picture).",
        [({"show": r.show.id}, len(r.returns.feeds)) for r in runners],
    )
    metric(
        "broadcast_talkbacks",
        "gauge",
        "Operator talkback microphones connected.",
        [({"show": r.show.id}, len(r.returns.talks)) for r in runners],
    )
    metric(
        "broadcast_talkbacks_open",
        "gauge",
        "Talkbacks keyed (an operator talking to hosts) now.",
        [({"show": r.show.id}, r.returns.status()["talkbacks_open"]) for r in runners],
    )
    metric(
        "broadcast_studio_online",
        "gauge",
        "1 when the studio's WHIP session is connected.",
        [({"show": r.show.id, "studio": st.id}, int(st.id in r.online)) for r in runners for st in r.show.studios],
    )
    metric(
        "broadcast_studio_video_frames_total",
        "counter",
        "Video frames received from the studio.",
        [({"show": r.show.id, "studio": sid}, sess.video_frames) for r in runners for sid, sess in r.sessions.items()],
    )
    studio_stats = [
        ({"show": r.show.id, "studio": sid}, sess.stats()) for r in runners for sid, sess in r.sessions.items()
    ]
    for kind, table in (("gauge", _STUDIO_GAUGES), ("counter", _STUDIO_COUNTERS)):
        for key, name, help_text in table:
            rows = [(labels, st[key]) for labels, st in studio_stats if st.get(key) is not None]
            metric(name, kind, help_text, rows)
    flv_rows = [({"show": r.show.id}, r.flv.status().get("readers", 0)) for r in runners if r.flv]
    metric("broadcast_flv_readers", "gauge", "Connected HTTP-FLV readers.", flv_rows)
    for name, kind, help_text, rows in output_metrics(runners):
        metric(name, kind, help_text, rows)
    # The crew's program monitors and solo streams (orchestrator/crewmonitor.py).
    crews = [(r.show.id, r.crew.status()) for r in runners if r.crew is not None]
    metric(
        "broadcast_crew_streams",
        "gauge",
        "Operators' program monitor and solo (PFL) streams open.",
        [({"show": s, "kind": "monitor"}, c["monitors"]) for s, c in crews]
        + [({"show": s, "kind": "solo"}, c["solo_streams"]) for s, c in crews],
    )
    metric(
        "broadcast_crew_solo_encodes",
        "gauge",
        "Solo Opus encodes running (one per soloed studio).",
        [({"show": s}, len(c["solo_encodes"])) for s, c in crews],  # type: ignore[arg-type]
    )
    # The state store's outbox (orchestrator/outbox.py): above 0 for long means Redis is away.
    pending: list[tuple[dict[str, str], object]] = [({"show": r.show.id}, len(r.outbox)) for r in runners]
    metric("broadcast_store_writes_pending", "gauge", "Audit events and facts waiting for the state store.", pending)
    retries: list[tuple[dict[str, str], object]] = [({"show": r.show.id}, r.outbox.retries) for r in runners]
    metric("broadcast_store_write_retries_total", "counter", "Failed state store write attempts (retried).", retries)
    cluster = request.app.get(CLUSTER)
    if cluster is not None:
        nodes = sorted(cluster.nodes.values(), key=lambda n: n.id)
        metric(
            "broadcast_node_up",
            "gauge",
            "Live nodes of the cluster (heartbeat in Redis).",
            [({"node": n.id}, 1) for n in nodes],
        )
        metric(
            "broadcast_node_cpu_headroom_cores",
            "gauge",
            "Idle cores a node reports (cores minus its own CPU use).",
            [({"node": n.id}, n.cpu_headroom) for n in nodes],
        )
        metric("broadcast_node_shows", "gauge", "Shows a node runs.", [({"node": n.id}, len(n.shows)) for n in nodes])
        metric(
            "broadcast_node_studios",
            "gauge",
            "Studios connected to a node.",
            [({"node": n.id}, n.studios) for n in nodes],
        )
        metric(
            "broadcast_show_owner",
            "gauge",
            "1 for the node that runs the show (its lease); no row while nobody does.",
            [({"show": s, "node": o.node}, 1) for s, o in sorted(cluster.owners.items()) if o is not None],
        )
    return web.Response(
        text="\n".join(out) + "\n",
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )
