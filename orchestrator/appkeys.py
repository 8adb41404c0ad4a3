"""Every typed application key in one place."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from orchestrator.cluster import Cluster
from orchestrator.config import Config
from orchestrator.loginthrottle import LoginThrottle
from orchestrator.operators import Operators
from orchestrator.sessions import Sessions
from orchestrator.showrunner import ShowRunner
from orchestrator.store import StateStore
from rooms.ingestpool import IngestPool
from rooms.jointoken import JoinTokens
from rooms.rtmpserver import RtmpServer

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", StateStore)
TOKENS = web.AppKey("tokens", JoinTokens)
SHOWS = web.AppKey("shows", dict[str, ShowRunner])
OPERATORS = web.AppKey("operators", Operators)
SESSIONS = web.AppKey("sessions", Sessions)
THROTTLE = web.AppKey("login_throttle", LoginThrottle)
# The OpenAPI document, built once by the app factory (orchestrator/openapi.py) and served by views/docs.py.
OPENAPI = web.AppKey("openapi", dict[str, Any])
METRICS = web.AppKey("metrics", CollectorRegistry)  # /metrics: orchestrator/metrics.py
CLUSTER = web.AppKey("cluster", Cluster)  # only with redis_url: the nodes and who runs which show
INGEST = web.AppKey("ingest", IngestPool)  # only with ingest.workers > 0: the ingest worker processes
RTMP_INGEST = web.AppKey("rtmp_ingest", RtmpServer)  # only with server.rtmp_ingest (orchestrator/rtmpingest.py)
