from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli import EXAMPLE_CONFIG
from orchestrator.config import ConfigError, load, with_overrides


def test_example_config_describes_the_wuhan_show() -> None:
    config = load(EXAMPLE_CONFIG)
    show = config.show("wuhan-0510")
    assert show is not None
    # The model event at full size: Beijing, Hong Kong and the 14 Wuhan districts and zones.
    ids = [s.id for s in show.studios]
    assert ids[:2] == ["beijing", "hongkong"] and len(ids) == 16
    assert {"wuhan-jiangan", "wuhan-hannan", "wuhan-wuchang", "wuhan-huangpi", "wuhan-donghu"} <= set(ids)
    assert all(s.name and s.name_en for s in show.studios)
    assert len(show.products) >= 1000 and len({p.enterprise for p in show.products}) >= 400
    assert all(p.enterprise and p.price > 0 for p in show.products)
    cars = [p for p in show.products if "-cars-" in p.id]
    assert cars and all(50_000 <= p.price <= 400_000 for p in cars)
    assert (show.width, show.height, show.fps) == (1280, 720, 30)
    assert len(config.shows) >= 3  # district shows beside the main one


def test_example_config_is_what_its_generator_writes(tmp_path: Path) -> None:
    out = tmp_path / "wuhan.toml"
    subprocess.run([sys.executable, "scripts/wuhan_event.py", str(out)], check=True, cwd=EXAMPLE_CONFIG.parent.parent)
    assert out.read_text(encoding="utf-8") == EXAMPLE_CONFIG.read_text(encoding="utf-8")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = """
[server]
operator_token = "12345678"
link_secret = "0123456789abcdef"
[[shows]]
id = "s"
title = "S"
[[shows.studios]]
id = "a"
name = "A"
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE + "colour = 1\n", "shows[0].studios[0].colour: unknown key"),
        (BASE.replace('id = "s"', 'id = "S S"'), "shows[0].id"),
        (BASE.replace('title = "S"', 'title = "S"\nfps = "thirty"'), "shows[0].fps: expected an integer"),
        (BASE.replace('title = "S"', 'title = "S"\nfps = 500'), "shows[0].fps: must be 1-60"),
        (BASE.replace('"12345678"', '"short"'), "server.operator_token"),
        (BASE + "[nope]\n", "nope: unknown key"),
        ("[server\n", "not valid TOML"),
        (BASE.replace("[server]", "[server]\nice_hosts = ['not-an-ip']"), "server.ice_hosts[0]"),
        (BASE.replace("[server]", "[server]\nredis_url = 'http://x'"), "server.redis_url"),
        (BASE.replace("[server]", "[server]\nredis_url = 'redis+sentinel://a:0/m'"), "server.redis_url: sentinel"),
        (BASE.replace("[server]", "[server]\nredis_url = 'redis+sentinel://a:1/'"), "needs the master's name"),
        (BASE.replace("[server]", "[server]\npublic_url = 'node-1:8080'"), "server.public_url"),
        (BASE.replace("[server]", "[server]\nnode_id = 'Node 1'"), "server.node_id"),
        (BASE.replace("[server]", "[server]\nlease_seconds = 0.1"), "server.lease_seconds"),
        (BASE + '[[shows.studios]]\nid = "a"\nname = "again"\n', "duplicate studio"),
        (BASE.replace("[server]", "[server]\nrtmp_ingest = '127.0.0.1:8080'"), "is the HTTP listen address"),
        (BASE.replace("[server]", "[server]\nrtmp_ingest = '0.0.0.0:8080'"), "server.rtmp_ingest: '0.0.0.0:8080'"),
        # One rule with POST .../programs (orchestrator/fields.py Programs): never an empty list.
        (BASE.replace('title = "S"', 'title = "S"\nprograms = []'), "shows[0].programs: must not be empty"),
        (BASE.replace('title = "S"', 'title = "S"\nprograms = ["portrait", "portrait"]'), "at most once"),
    ],
)
def test_bad_config_names_file_key_and_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(_write(tmp_path, text))
    assert message in str(err.value)
    assert str(tmp_path / "bad.toml") in str(err.value)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.toml")


def test_flags_override_and_are_validated() -> None:
    config = with_overrides(load(EXAMPLE_CONFIG), ice_hosts=("127.0.0.1",), listen_port=9999)
    assert config.server.ice_hosts == ("127.0.0.1",)
    assert config.server.listen_port == 9999
    with pytest.raises(ConfigError, match="server.operator_token"):
        with_overrides(config, operator_token="x")


def test_cli_prints_one_readable_line_for_a_bad_config(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "colour = 1\n")
    run = subprocess.run(
        [sys.executable, "-m", "orchestrator", "serve", "--config", str(path)], capture_output=True, text=True
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown key" in lines[0] and "Traceback" not in run.stderr


def test_links_prints_one_json_object_per_studio() -> None:
    import json

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator",
            "links",
            "--config",
            str(EXAMPLE_CONFIG),
            "--base-url",
            "https://live.example.org",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    links = [json.loads(line) for line in run.stdout.splitlines()]
    main = [x["studio"] for x in links if x["show"] == "wuhan-0510"]
    assert main[:3] == ["beijing", "hongkong", "wuhan-jiangan"] and len(main) == 16
    assert {x["show"] for x in links} == {"wuhan-0510", "wuhan-north", "wuhan-south"}
    first = links[0]
    assert first["join_url"] == f"https://live.example.org/join/{first['token']}"
    assert first["whip_url"] == "https://live.example.org/whip/wuhan-0510/beijing"


def test_errors_name_the_flags_whenever_a_flag_was_given(tmp_path: Path) -> None:
    """The trial's finding: with ``--listen`` given, a flag's error said ``file (+flags)`` but the
    file's own fps error said ``file``. Flags are applied before any check: both say it."""
    bad_fps = _write(tmp_path, BASE.replace('title = "S"', 'title = "S"\nfps = 500'))
    for overrides, flagged in (({}, False), ({"listen_port": 9999}, True), ({"listen_port": None}, False)):
        with pytest.raises(ConfigError) as err:
            load(bad_fps, overrides)
        want = f"{bad_fps} (+flags): shows[0].fps" if flagged else f"{bad_fps}: shows[0].fps"
        assert str(err.value).startswith(want), err.value
    with pytest.raises(ConfigError, match=r"bad\.toml \(\+flags\): server\.operator_token"):
        load(_write(tmp_path, BASE), {"operator_token": "x"})
    assert load(_write(tmp_path, BASE), {"listen_port": 9999}).server.listen_port == 9999
    config = load(_write(tmp_path, BASE))
    assert config.source == str(tmp_path / "bad.toml") and with_overrides(config).source == config.source


def test_cli_error_names_the_flags_for_a_file_error(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE.replace('title = "S"', 'title = "S"\nfps = 500'))
    cmd = [sys.executable, "-m", "orchestrator", "serve", "--config", str(path), "--listen", "127.0.0.1:9999"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip() == f"broadcast: config error: {path} (+flags): shows[0].fps: must be 1-60", run.stderr
