"""How the config refuses a value: strict tables, and one :class:`ConfigError` line per mistake.

Every message reads ``file: key: problem`` (``show.toml: shows[0].fps: must be 1-60``); the CLI
prints it as it is.
"""

from __future__ import annotations

from pydantic import ConfigDict, ValidationError

from orchestrator.fields import problems

# Every table refuses keys it does not know, and no float may be inf or nan. Scalars are strict
# (no "30" for 30, no true for 1) through their field types: Integer, Number, Text, Flag.
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class ConfigError(Exception):
    """A config file or flag is wrong; the message is one readable line, ``file: key: problem``."""


def check(cond: bool, src: str, key: str, what: str) -> None:
    """Raise ``ConfigError("{src}: {key}: {what}")`` unless ``cond`` holds."""
    if not cond:
        raise ConfigError(f"{src}: {key}: {what}")


def one_line(exc: ValidationError, src: str) -> ConfigError:
    """The first of pydantic's errors as ``src: key: problem`` (``top level`` for the document)."""
    key, problem = next(problems(exc), ("", "invalid"))
    return ConfigError(f"{src}: {key or 'top level'}: {problem}")
