"""The one typed, frozen configuration tree, loaded from TOML with strict keys.

One module per section: ``server`` (``[server]``), ``show`` (``shows[]``), ``outputs``
(``shows[].outputs``), ``product`` (``shows[].products[]``), ``ingest`` (``[ingest]``), the root
``tree``; ``loader`` reads a file into it and checks it, ``problems`` holds :class:`ConfigError`
(one line, ``file: key: problem``, as the CLI prints it) and ``ranges`` every field's bounds.
Everything is re-exported here: ``from orchestrator.config import Config, load``.
"""

from __future__ import annotations

from orchestrator.config.ingest import MAX_INGEST_WORKERS, Ingest
from orchestrator.config.loader import load, parse, validate, with_overrides
from orchestrator.config.outputs import Outputs, RtmpDestination
from orchestrator.config.problems import ConfigError
from orchestrator.config.product import Product
from orchestrator.config.ranges import RANGES
from orchestrator.config.server import IceServer, Operator, Server, redis_url_problem
from orchestrator.config.show import Show, Studio
from orchestrator.config.tree import Config
from orchestrator.fields import ID_RE, VIDEO_CODECS

__all__ = [
    "ID_RE",
    "MAX_INGEST_WORKERS",
    "RANGES",
    "VIDEO_CODECS",
    "Config",
    "ConfigError",
    "IceServer",
    "Ingest",
    "Operator",
    "Outputs",
    "Product",
    "RtmpDestination",
    "Server",
    "Show",
    "Studio",
    "load",
    "parse",
    "redis_url_problem",
    "validate",
    "with_overrides",
]
