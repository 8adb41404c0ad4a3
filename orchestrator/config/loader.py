"""Turn a TOML file (or a parsed document, or CLI flags) into a checked :class:`Config`.

Every mistake raises one :class:`ConfigError` whose message reads ``file: key: problem``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from orchestrator.config.problems import ConfigError, one_line
from orchestrator.config.server import check_server
from orchestrator.config.show import apply_orientation, check_shows
from orchestrator.config.tree import Config

_CONFIG = TypeAdapter(Config)
_SECTIONS = ("server", "shows", "ingest")


def validate(config: Config) -> Config:
    """Check what types alone cannot (across fields and tables); a portrait main program gets
    its long side vertical. Returns the config to use; raises ConfigError."""
    shows = apply_orientation(config.shows)
    if shows != config.shows:
        config = dataclasses.replace(config, shows=shows)
    check_server(config.server, {s.id for s in config.shows}, config.source)
    check_shows(config.shows, config.source)
    return config


def parse(data: dict[str, Any], source: str = "<memory>") -> Config:
    """Build and check the config from a TOML document (``source`` names it in errors);
    raises ConfigError (one line)."""
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"{source}: {unknown[0]}: unknown key")
    tree = {"server": data.get("server", {}), "shows": data.get("shows", []), "source": source}
    if "ingest" in data:
        tree["ingest"] = data["ingest"]
    try:
        config = _CONFIG.validate_python(tree)
    except ValidationError as exc:
        raise one_line(exc, source) from None
    return validate(config)


def load(path: str | Path, server_overrides: Mapping[str, Any] | None = None) -> Config:
    """Read, parse and check a UTF-8 TOML config file; raises ConfigError (one line).

    ``server_overrides``: command-line flags for ``[server]`` keys (None: not given), applied
    before any check, so every error after the file is read names ``{file} (+flags)`` when a
    flag was given, ``{file}`` when none was."""
    src = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{src}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{src}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{src}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{src}: not valid TOML: arrays or tables nested too deeply") from None
    changes = {k: v for k, v in (server_overrides or {}).items() if v is not None}
    if changes:
        src = f"{src} (+flags)"
        server = data.get("server", {})
        if isinstance(server, dict):  # anything else: the check below names server as the file has it
            data["server"] = {**server, **changes}
    return parse(data, src)


def with_overrides(config: Config, **server_overrides: Any) -> Config:
    """Apply command-line flags to ``[server]`` (None means 'not given') and re-validate;
    raises ConfigError naming ``{file} (+flags)``."""
    changes = {k: v for k, v in server_overrides.items() if v is not None}
    flagged = not changes or config.source.endswith(" (+flags)")
    source = config.source if flagged else f"{config.source} (+flags)"
    try:
        server = dataclasses.replace(config.server, **changes)
    except ValidationError as exc:
        raise one_line(exc, source) from None
    return validate(dataclasses.replace(config, server=server, source=source))
