"""Config values that used to pass start-up and fail later, or crash it; and a fuzz of the loader.

Every bad value must be the one-line ``file: key: problem`` error; never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import EXAMPLE_CONFIG
from orchestrator.config import ConfigError, load

MINIMAL: dict[str, Any] = {
    "server": {"operator_token": "12345678", "link_secret": "0123456789abcdef"},
    "shows": [
        {
            "id": "s",
            "title": "S",
            "studios": [{"id": "a", "name": "A"}],
            "products": [{"id": "p", "name": "P", "enterprise": "E", "price": 1.5}],
            "outputs": {"hls_segment_seconds": 2.0},
        }
    ],
}


def toml_value(value: Any) -> str:
    """A value as TOML text (inline tables and arrays; inf and nan as TOML spells them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_text(data: dict[str, Any]) -> str:
    """A whole config: one line per top-level key (TOML allows inline tables and arrays of them)."""
    return "".join(f"{key} = {toml_value(value)}\n" for key, value in data.items())


def _write(tmp_path: Path, data: dict[str, Any] | str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else toml_text(data), encoding="utf-8")
    return path


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(MINIMAL))
    node = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return data


def _one_line_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message


def test_the_minimal_config_loads(tmp_path: Path) -> None:
    config = load(_write(tmp_path, MINIMAL))
    assert config.shows[0].products[0].price == 1.5


@pytest.mark.parametrize(
    ("where", "value", "key", "problem"),
    [
        (["server", "redis_url"], "redis://:99999", "server.redis_url", "port"),
        (["server", "redis_url"], "redis://localhost:0", "server.redis_url", "1-65535"),
        (["server", "redis_url"], "redis://localhost/x", "server.redis_url", "database"),
        (["server", "redis_url"], "http://localhost", "server.redis_url", "redis://"),
        (["server", "link_ttl_hours"], 1e308, "server.link_ttl_hours", "finite"),
        (["server", "link_ttl_hours"], math.inf, "server.link_ttl_hours", "finite"),
        (["server", "link_ttl_hours"], 0, "server.link_ttl_hours", "out of range"),
        (["server", "max_body_bytes"], 2**62, "server.max_body_bytes", "out of range"),
        (["server", "ice_servers"], [{"urls": "stun:example.org:99999"}], "server.ice_servers[0].urls", "port"),
        (["server", "ice_servers"], [{"urls": "stun:exa mple.org"}], "server.ice_servers[0].urls", "malformed"),
        (["server", "ice_hosts"], [[[[[["deep"]]]]]], "server.ice_hosts[0]", "expected a string"),
        (["shows", 0, "outputs", "hls_segment_seconds"], math.inf, "shows[0].outputs.hls_segment_seconds", "finite"),
        (["shows", 0, "outputs", "hls_segment_seconds"], math.nan, "shows[0].outputs.hls_segment_seconds", "finite"),
        (["shows", 0, "outputs", "hls_segment_seconds"], 1e9, "shows[0].outputs.hls_segment_seconds", "range"),
        (["shows", 0, "outputs", "rtmp"], [{"name": "cdn", "url": "rtmp://h:99999/a/k"}], "rtmp[0].url", "port"),
        (["shows", 0, "products", 0, "price"], math.inf, "shows[0].products[0].price", "finite"),
        (["shows", 0, "products", 0, "price"], -1, "shows[0].products[0].price", "out of range"),
        (["shows", 0, "products", 0, "stock"], 2**63 - 1, "shows[0].products[0].stock", "out of range"),
        (["shows", 0, "fallback_after"], -math.inf, "shows[0].fallback_after", "finite"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(
    tmp_path: Path, where: list[Any], value: Any, key: str, problem: str
) -> None:
    message = _one_line_error(_write(tmp_path, _with(where, value)))
    assert key in message and problem in message, message


def test_product_ranges_are_the_apis() -> None:
    from orchestrator import catalogue
    from orchestrator.config import RANGES

    assert RANGES[("Product", "price")] == RANGES[("Product", "was_price")] == (0, catalogue.MAX_PRICE)
    assert RANGES[("Product", "stock")] == (0, catalogue.MAX_COUNT)


def test_a_deeply_nested_array_is_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "[server]\nice_hosts = " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply" in _one_line_error(path)


def test_operators_scopes_and_password_hashes_are_checked(tmp_path: Path) -> None:
    op = {"name": "x", "role": "producer", "token": "producer-token"}
    for extra, problem in [
        ({"shows": ["nope"]}, "'nope' is not a show"),
        ({"password_hash": "plain-text-password"}, "hash-password"),
        ({"role": "admin"}, "director, producer or links"),
    ]:
        message = _one_line_error(_write(tmp_path, _with(["server", "operators"], [{**op, **extra}])))
        assert "server.operators[0]" in message and problem in message, message


def test_the_cli_prints_the_error_as_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, _with(["server", "redis_url"], "redis://:99999"))
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "links", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "server.redis_url" in done.stderr, done.stderr


# -- the fuzz -----------------------------------------------------------------------------------

ODD_VALUES: list[Any] = [
    math.inf, -math.inf, math.nan, 1e308, -1e308, 2**63 - 1, -(2**63), 0, -1, 0.0, 1e-300, True, "", " ",
    "x" * 3000, "\u0000", "redis://:99999", "rtmp://h:70000/a/k", "stun:h:0", "turn:", "../../etc/passwd",
    [], {}, [1, "a"], {"a": 1}, [[[[[[[[1]]]]]]]], "#zzzzzz", "inf", "director",
]  # fmt: skip


def _paths(node: Any, prefix: list[Any]) -> list[list[Any]]:
    """Every key path in a config tree (tables and array items)."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, [*prefix, key])
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, [*prefix, i])
    return found


def _mutate(data: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    data = json.loads(json.dumps(data))
    for _ in range(rng.randint(1, 3)):
        paths = _paths(data, [])
        where = rng.choice(paths)
        node: Any = data
        for step in where[:-1]:
            node = node[step]
        roll = rng.random()
        if roll < 0.7:
            value: Any = rng.choice(ODD_VALUES)
            if isinstance(value, list | dict):
                value = json.loads(json.dumps(value))
            node[where[-1]] = value
        elif roll < 0.85 and isinstance(node, dict):
            node[rng.choice(["zzz", "shows", "server", "urls", "price"])] = rng.choice(ODD_VALUES[:12])
        elif isinstance(node, dict):
            node.pop(where[-1], None)
        else:
            node[where[-1]] = [node[where[-1]]] * rng.randint(0, 3)
    return data


def _corrupt(text: str, rng: random.Random) -> str:
    """Text-level damage: cut it, or splice in a few odd characters."""
    cut = rng.randrange(len(text))
    if rng.random() < 0.5:
        return text[:cut]
    if rng.random() < 0.2:
        return text + "\nzz = " + "[" * 4000 + "]" * 4000 + "\n"  # nested past the parser's recursion limit
    return text[:cut] + rng.choice(['"', "[", "]]", "=", "\n[[shows]]\n", "\x00", "\ufeff", "{", "'''"]) + text[cut:]


def test_fuzzed_config_files_load_or_give_the_one_line_error(tmp_path: Path) -> None:
    """A few hundred generated files (fixed seed): each loads, or raises ConfigError in one line."""
    rng = random.Random(20260510)
    seeds = [MINIMAL, load_example_as_data()]
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(400):
        data = _mutate(rng.choice(seeds), rng)
        text = toml_text(data)
        if i % 4 == 3:
            text = _corrupt(text, rng)
        path = _write(tmp_path, text, f"fuzz-{i}.toml")
        try:
            config = load(path)
        except ConfigError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(f"{path}: "), (i, str(exc)[:300])
            outcomes["refused"] += 1
        else:
            # What loads is sound: every number finite (valid JSON for the API), every range kept.
            json.dumps(dataclasses.asdict(config), allow_nan=False)
            outcomes["loaded"] += 1
    # Both outcomes happen: the generator makes good files as well as bad ones.
    assert outcomes["loaded"] >= 10 and outcomes["refused"] >= 200, outcomes


def load_example_as_data() -> dict[str, Any]:
    import tomllib

    return tomllib.loads(Path(EXAMPLE_CONFIG).read_text(encoding="utf-8"))
