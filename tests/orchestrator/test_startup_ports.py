"""A port already in use is one line at start-up and a non-zero exit, with nothing started.

The trial's failure: the HTTP port (or ``server.rtmp_ingest``'s) held by another process gave
a Python traceback ending ``OSError: [Errno 98]``, after the show's outputs had started
writing HLS into ``data_dir``. Here a real socket holds the port and the CLI runs as its own
process (tests/serverprocess.py), as an operator runs it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ports import free_port
from tests.serverprocess import ROOT, config_file, show_table

SHOW = show_table("test-show", "T")


def _serve(config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "orchestrator", "serve", "--config", str(config)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("held", ["server.listen_port", "server.rtmp_ingest"])
def test_a_port_in_use_is_one_line_and_nothing_starts(tmp_path: Path, held: str) -> None:
    http_port, ingest_port = free_port(), free_port()
    config = config_file(tmp_path, SHOW, listen_port=http_port, rtmp_ingest=f"127.0.0.1:{ingest_port}")
    holder = socket.socket()
    holder.bind(("127.0.0.1", http_port if held == "server.listen_port" else ingest_port))
    holder.listen()
    try:
        run = _serve(config)
    finally:
        holder.close()
    assert run.returncode != 0, run
    assert "Traceback" not in run.stderr, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("broadcast:")]
    port = http_port if held == "server.listen_port" else ingest_port
    assert len(errors) == 1 and errors[0].startswith(f"broadcast: cannot start: {config}"), run.stderr
    assert errors[0].endswith(f": {held}: 127.0.0.1:{port} is in use"), run.stderr
    assert not (tmp_path / "data" / "live").exists()  # no output started before the bind failed


def test_the_ports_free_the_server_starts(tmp_path: Path) -> None:
    """The same config with its ports free: the server runs (the check does not refuse a good start)."""
    http_port = free_port()
    config = config_file(tmp_path, SHOW, listen_port=http_port, rtmp_ingest=f"127.0.0.1:{free_port()}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "orchestrator", "serve", "--config", str(config)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if f"127.0.0.1:{http_port}" in line:  # aiohttp's "Running on ..." once listening
                break
        with socket.create_connection(("127.0.0.1", http_port), timeout=10):
            pass
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=30)
