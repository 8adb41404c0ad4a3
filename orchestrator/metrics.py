"""``/metrics``: the node's Prometheus metrics, built by ``prometheus_client`` from the live state.

One :class:`~prometheus_client.CollectorRegistry` per application (tests run several
apps in one process, so never the library's global one) holds the process collector
(``process_cpu_seconds_total``, ``process_resident_memory_bytes``, ``process_open_fds``,
...), the platform collector (``python_info``), and :class:`ShowCollector`, which reads the
shows, their studios, outputs, store outbox and the cluster at every scrape: nothing is
kept between scrapes, so a value is never stale.

Names and labels are part of the public interface (dashboards and alerts rely on them):
rename none. Their names, types and help texts: ``metricfamilies.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from orchestrator.appkeys import CLUSTER, INGEST, SHOWS
from orchestrator.cluster import Cluster
from orchestrator.metricfamilies import (
    DELAY,
    OUTPUT,
    PROGRAM,
    PROGRAM_RATES,
    STUDIO_COUNTERS,
    STUDIO_GAUGES,
    Rows,
    family,
    listed,
    picked,
)
from orchestrator.showrunner import ShowRunner
from rooms.ingestpool import IngestPool


def output_rows(runners: Iterable[ShowRunner]) -> list[tuple[dict[str, str], Mapping[str, Any]]]:
    """(labels ``show``, ``output``, ``name``; status) for every output of every show."""
    rows: list[tuple[dict[str, str], Mapping[str, Any]]] = []
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


class ShowCollector(Collector):
    """The shows, studios, outputs, store outbox and cluster of one app, read at each scrape.

    ``shows`` and ``cluster`` are read when :meth:`collect` runs (on the event loop, from the
    ``/metrics`` view), so shows started or stopped since the last scrape are seen.
    """

    def __init__(
        self,
        shows: Callable[[], Iterable[ShowRunner]],
        cluster: Callable[[], Cluster | None],
        ingest: Callable[[], IngestPool | None] = lambda: None,
    ) -> None:
        self._shows = shows
        self._cluster = cluster
        self._ingest = ingest

    def collect(self) -> Iterator[Metric]:
        runners = list(self._shows())
        yield from self._program(runners)
        yield from self._studios(runners)
        yield from self._outputs(runners)
        yield from self._crew(runners)
        yield from self._talk_and_listen(runners)
        pending: Rows = [({"show": r.show.id}, len(r.outbox)) for r in runners]
        yield family(
            "gauge", "broadcast_store_writes_pending", "Audit events and facts waiting for the state store.", pending
        )
        retries: Rows = [({"show": r.show.id}, r.outbox.retries) for r in runners]
        yield family(
            "counter", "broadcast_store_write_retries_total", "Failed state store write attempts (retried).", retries
        )
        cluster = self._cluster()
        if cluster is not None:
            yield from self._cluster_families(cluster)
        ingest = self._ingest()
        if ingest is not None:  # ingest.workers > 0 (rooms/ingestpool.py)
            held: Rows = [({"worker": str(w.index)}, len(w.sessions)) for w in ingest.workers]
            yield family("gauge", "broadcast_ingest_worker_sessions", "Studio sessions an ingest worker holds.", held)
            restarts: Rows = [({}, ingest.restarts)]
            yield family(
                "counter",
                "broadcast_ingest_worker_restarts_total",
                "Ingest workers that died and were replaced.",
                restarts,
            )

    @staticmethod
    def _program(runners: list[ShowRunner]) -> Iterator[Metric]:
        stats = {r.show.id: r.program.stats() for r in runners}
        for key, kind, name, help_text in PROGRAM:
            yield family(kind, name, help_text, [({"show": s}, st[key]) for s, st in stats.items()])
        lag: Rows = [({"show": r.show.id}, round(r.program.lag, 4)) for r in runners]
        yield family(
            "gauge", "broadcast_program_tick_lag_seconds", "How late the last tick started after its due time.", lag
        )
        for key, kind, name, help_text in PROGRAM_RATES:
            yield family(kind, name, help_text, [({"show": s}, st[key]) for s, st in stats.items()])
        silence: Rows = [
            ({"show": r.show.id}, r.program.encoder.silence_filled_ticks / r.program.fmt.fps) for r in runners
        ]
        yield family(
            "counter",
            "broadcast_program_audio_silence_filled_seconds_total",
            "Program audio filled with silence where the timeline had none (skipped ticks).",
            silence,
        )

    @staticmethod
    def _studios(runners: list[ShowRunner]) -> Iterator[Metric]:
        online: Rows = [
            ({"show": r.show.id, "studio": st.id}, int(st.id in r.online)) for r in runners for st in r.show.studios
        ]
        yield family("gauge", "broadcast_studio_online", "1 when the studio's WHIP session is connected.", online)
        frames: Rows = [
            ({"show": r.show.id, "studio": sid}, sess.video_frames) for r in runners for sid, sess in r.sessions.items()
        ]
        yield family("counter", "broadcast_studio_video_frames_total", "Video frames received from the studio.", frames)
        studio_stats = [
            ({"show": r.show.id, "studio": sid}, sess.stats()) for r in runners for sid, sess in r.sessions.items()
        ]
        for kind, table in (("gauge", STUDIO_GAUGES), ("counter", STUDIO_COUNTERS)):
            for key, name, help_text in table:
                yield family(kind, name, help_text, picked(studio_stats, key, None))
        standby: Rows = [(labels, int(st.get("decode_level") == "standby")) for labels, st in studio_stats]
        yield family(
            "gauge", "broadcast_studio_decode_standby", "1: decoded keyframes only (standby); 0: fully.", standby
        )

    @staticmethod
    def _outputs(runners: list[ShowRunner]) -> Iterator[Metric]:
        flv: Rows = [({"show": r.show.id}, r.flv.status().get("readers", 0)) for r in runners if r.flv]
        yield family("gauge", "broadcast_flv_readers", "Connected HTTP-FLV readers.", flv)
        delays = [
            ({"show": runner.show.id, "output": key}, line)
            for runner in runners
            for key, line in runner.delays.status().items()
        ]
        for key, kind, name, help_text in DELAY:
            yield family(kind, name, help_text, picked(delays, key, None))
        rows = output_rows(runners)
        for key, kind, name, help_text, default in OUTPUT:
            yield family(kind, name, help_text, picked(rows, key, default))

    @staticmethod
    def _crew(runners: list[ShowRunner]) -> Iterator[Metric]:
        """The crew's program monitors and solo streams (orchestrator/crewmonitor.py)."""
        crews = [(r.show.id, r.crew.status()) for r in runners if r.crew is not None]
        streams: Rows = [({"show": s, "kind": "monitor"}, c["monitors"]) for s, c in crews]
        streams += [({"show": s, "kind": "solo"}, c["solo_streams"]) for s, c in crews]
        yield family(
            "gauge", "broadcast_crew_streams", "Operators' program monitor and solo (PFL) streams open.", streams
        )
        encodes: Rows = [({"show": s}, len(listed(c["solo_encodes"]))) for s, c in crews]
        yield family(
            "gauge", "broadcast_crew_solo_encodes", "Solo Opus encodes running (one per soloed studio).", encodes
        )

    @staticmethod
    def _talk_and_listen(runners: list[ShowRunner]) -> Iterator[Metric]:
        """The hosts' return feeds and the crew's talkback (orchestrator/returnfeeds.py)."""
        feeds: Rows = [({"show": r.show.id}, len(r.returns.feeds)) for r in runners]
        yield family("gauge", "broadcast_return_feeds", "Hosts' return feeds open (mix-minus and picture).", feeds)
        talks: Rows = [({"show": r.show.id}, len(r.returns.talks)) for r in runners]
        yield family("gauge", "broadcast_talkbacks", "Operator talkback microphones connected.", talks)
        keyed: Rows = [({"show": r.show.id}, r.returns.status()["talkbacks_open"]) for r in runners]
        yield family("gauge", "broadcast_talkbacks_open", "Talkbacks keyed (an operator talking to hosts) now.", keyed)

    @staticmethod
    def _cluster_families(cluster: Cluster) -> Iterator[Metric]:
        nodes = sorted(cluster.nodes.values(), key=lambda n: n.id)
        yield family(
            "gauge",
            "broadcast_node_up",
            "Live nodes of the cluster (heartbeat in Redis).",
            [({"node": n.id}, 1) for n in nodes],
        )
        yield family(
            "gauge",
            "broadcast_node_cpu_headroom_cores",
            "Idle cores a node reports (cores minus its own CPU use).",
            [({"node": n.id}, n.cpu_headroom) for n in nodes],
        )
        yield family(
            "gauge", "broadcast_node_shows", "Shows a node runs.", [({"node": n.id}, len(n.shows)) for n in nodes]
        )
        yield family(
            "gauge",
            "broadcast_node_studios",
            "Studios connected to a node.",
            [({"node": n.id}, n.studios) for n in nodes],
        )
        owners: Rows = [({"show": s, "node": o.node}, 1) for s, o in sorted(cluster.owners.items()) if o is not None]
        yield family(
            "gauge",
            "broadcast_show_owner",
            "1 for the node that runs the show (its lease); no row while nobody does.",
            owners,
        )


def metrics_registry(app: web.Application) -> CollectorRegistry:
    """A registry for ``app``: the process and platform collectors and a :class:`ShowCollector` over its shows."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(
        ShowCollector(lambda: app.get(SHOWS, {}).values(), lambda: app.get(CLUSTER), lambda: app.get(INGEST))
    )
    return registry
