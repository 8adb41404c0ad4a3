"""A ``data_dir`` the server cannot create or write is one line at start-up and exit status 2.

The trial's failure: ``broadcast serve --data-dir /proc/nope`` ran with ``/healthz`` ok while
HLS failed on every packet (62 ERROR lines in 25 s, the playlist 404, no alarm). The CLI runs
as its own process (tests/serverprocess.py), as an operator runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.config import ConfigError, load
from orchestrator.datadir import check_data_dir
from tests.serverprocess import ROOT, config_file, show_table

SHOW = show_table("test-show", "T")


def _serve(config: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "orchestrator", "serve", "--config", str(config), *flags]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("where", ["proc", "under-a-file", "a-file"])
def test_a_data_dir_it_cannot_make_is_one_line_and_exit_2(tmp_path: Path, where: str) -> None:
    plain = tmp_path / "plain"
    data_dir = {"proc": "/proc/nope", "under-a-file": str(plain / "data"), "a-file": str(plain)}
    config = config_file(tmp_path, SHOW, listen_port=1)  # never bound: the data_dir check comes first
    plain.write_text("not a directory")
    run = _serve(config, "--data-dir", data_dir[where])
    assert run.returncode == 2, run
    assert "Traceback" not in run.stderr and "ERROR" not in run.stderr, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("broadcast:")]
    assert len(errors) == 1, run.stderr
    assert errors[0].startswith(f"broadcast: config error: {config} (+flags): server.data_dir: {data_dir[where]} ")
    assert "cannot be created" in errors[0] or "not writable" in errors[0], errors[0]


def test_a_missing_data_dir_is_created_and_left_clean(tmp_path: Path) -> None:
    config = load(config_file(tmp_path, SHOW), {"data_dir": str(tmp_path / "new" / "data")})
    path = check_data_dir(config)
    assert path.is_dir() and list(path.iterdir()) == []  # the write check leaves nothing behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_data_dir_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "ro"
    data.mkdir(mode=0o500)
    with pytest.raises(ConfigError, match=r"server\.data_dir: .* is not writable"):
        check_data_dir(load(config_file(tmp_path, SHOW), {"data_dir": str(data)}))
