"""The server's ``data_dir`` (HLS playlists and segments, recordings), checked before anything starts.

A directory the server cannot create or write would leave HLS failing on every segment while
``/healthz`` says ok; instead it is one line at start-up and exit status 2, as other config
errors: ``broadcast: config error: show.toml: server.data_dir: /proc/nope cannot be created
(No such file or directory)``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from orchestrator.config import Config, ConfigError

__all__ = ["check_data_dir"]


def check_data_dir(config: Config) -> Path:
    """Create ``server.data_dir`` (and its parents) if missing and check a file can be written in it
    (the file is removed). Returns the directory; raises ConfigError (one line) if it cannot be."""
    path = Path(config.server.data_dir)
    where = f"{config.source}: server.data_dir: {path}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{where} cannot be created ({exc.strerror or exc})") from None
    try:
        with tempfile.TemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ConfigError(f"{where} is not writable ({exc.strerror or exc})") from None
    return path
