"""A server as its own process, as an operator runs it: a config file and ``python -m orchestrator``.

For the tests that need a real process (SIGKILL, the CLI); the in-process server is the
``server`` fixture in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import OPERATOR

ROOT = Path(__file__).resolve().parent.parent
LINK_SECRET = "test-link-secret-0123456789"
# The studios of the tests' shows (as tests/conftest.py's make_config), as TOML tables of a show.
TWO_STUDIOS = """
[[shows.studios]]
id = "alpha"
name = "Alpha"
[[shows.studios]]
id = "bravo"
name = "Bravo"
"""


def _toml(value: object) -> str:
    """A TOML value for a str, int, float, bool or list of them (JSON's string escapes are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def show_table(show_id: str, title: str, **keys: object) -> str:
    """A ``[[shows]]`` table (TOML text) of show ``show_id`` with ``keys`` (``width=320``...) and
    the tests' two studios."""
    lines = ["[[shows]]", f"id = {_toml(show_id)}", f"title = {_toml(title)}"]
    lines += [f"{key} = {_toml(value)}" for key, value in keys.items()]
    return "\n".join(lines) + "\n" + TWO_STUDIOS


def config_file(directory: Path, shows: str, *, name: str = "show.toml", **server: object) -> Path:
    """Write ``directory/name``: the tests' ``[server]`` table, then ``shows`` (TOML text); its path.

    The table has the tests' operator token and link secret, ICE on 127.0.0.1 and a data
    directory under ``directory``; ``server`` adds keys or replaces those (``listen_port=...``).
    """
    table: dict[str, object] = {
        "operator_token": OPERATOR,
        "link_secret": LINK_SECRET,
        "ice_hosts": ["127.0.0.1"],
        "data_dir": str(directory / "data"),
        **server,
    }
    lines = ["[server]", *(f"{key} = {_toml(value)}" for key, value in table.items())]
    path = directory / name
    path.write_text("\n".join(lines) + "\n\n" + shows.strip() + "\n", encoding="utf-8")
    return path


def spawn_server(config: Path, *args: str) -> subprocess.Popen[bytes]:
    """``python -m orchestrator serve --config config *args`` from the repository, output discarded."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "orchestrator", "serve", "--config", str(config), *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no shutdown code runs (nothing flushed, no trailer written)."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
