"""The one typed, frozen configuration tree, loaded from TOML with strict keys.

Every mistake in a config file becomes one :class:`ConfigError` whose message
names the file, the key and what is wrong; the CLI prints it as one line.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class ConfigError(Exception):
    """A config file or flag is wrong; the message is one readable line."""


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    enterprise: str
    price: float
    was_price: float | None = None
    name_en: str = ""
    promo: str = ""
    buy_url: str = ""
    image: str = ""
    stock: int | None = None


@dataclass(frozen=True)
class Studio:
    id: str
    name: str
    place: str = ""
    name_en: str = ""
    host: str = ""


@dataclass(frozen=True)
class Outputs:
    hls: bool = True
    flv: bool = True
    hls_segment_seconds: float = 2.0
    hls_window: int = 6


@dataclass(frozen=True)
class Show:
    id: str
    title: str
    width: int = 1280
    height: int = 720
    fps: int = 30
    video_bitrate: int = 2_500_000
    audio_bitrate: int = 128_000
    studios: tuple[Studio, ...] = ()
    products: tuple[Product, ...] = ()
    outputs: Outputs = field(default_factory=Outputs)
    slate_text: str = "Back soon · 马上回来"

    def studio(self, studio_id: str) -> Studio | None:
        return next((s for s in self.studios if s.id == studio_id), None)


@dataclass(frozen=True)
class Server:
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    operator_token: str = ""
    link_secret: str = ""
    link_ttl_hours: float = 24.0
    ice_hosts: tuple[str, ...] = ()
    redis_url: str = ""
    data_dir: str = "var"
    max_body_bytes: int = 64 * 1024


@dataclass(frozen=True)
class Config:
    server: Server
    shows: tuple[Show, ...]
    source: str = "<memory>"

    def show(self, show_id: str) -> Show | None:
        return next((s for s in self.shows if s.id == show_id), None)


T = TypeVar("T")


def _build(cls: type[T], data: Any, where: str, src: str) -> T:
    """Build dataclass ``cls`` from a TOML table, refusing unknown keys."""
    if not isinstance(data, dict):
        raise ConfigError(f"{src}: {where or 'top level'}: expected a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{src}: {_join(where, unknown[0])}: unknown key")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = _join(where, f.name)
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{src}: {key}: missing required key")
            continue
        kwargs[f.name] = _convert(hints[f.name], data[f.name], key, src)
    return cls(**kwargs)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _convert(hint: Any, value: Any, key: str, src: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(args[0], value, key, src)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{src}: {key}: expected a list")
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v, f"{key}[{i}]", src) for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key, src)  # type: ignore[arg-type]
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{src}: {key}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{src}: {key}: expected an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{src}: {key}: expected true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{src}: {key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{src}: {key}: unsupported value")  # pragma: no cover


def _check(cond: bool, src: str, key: str, what: str) -> None:
    if not cond:
        raise ConfigError(f"{src}: {key}: {what}")


def validate(config: Config) -> Config:
    """Check values that types alone cannot; raises ConfigError."""
    src, srv = config.source, config.server
    _check(0 < srv.listen_port < 65536, src, "server.listen_port", "must be 1-65535")
    _check(len(srv.operator_token) >= 8, src, "server.operator_token", "must be at least 8 characters")
    _check(len(srv.link_secret) >= 16, src, "server.link_secret", "must be at least 16 characters")
    _check(srv.link_ttl_hours > 0, src, "server.link_ttl_hours", "must be positive")
    _check(srv.max_body_bytes >= 4096, src, "server.max_body_bytes", "must be at least 4096")
    for i, host in enumerate(srv.ice_hosts):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(f"{src}: server.ice_hosts[{i}]: {host!r} is not an IP address") from None
    _check(
        not srv.redis_url or srv.redis_url.startswith(("redis://", "rediss://", "unix://")),
        src,
        "server.redis_url",
        "must start with redis://, rediss:// or unix://",
    )
    _check(bool(config.shows), src, "shows", "at least one show is required")
    seen: set[str] = set()
    for i, show in enumerate(config.shows):
        key = f"shows[{i}]"
        _check(bool(ID_RE.match(show.id)), src, f"{key}.id", f"{show.id!r} must be lowercase letters, digits, '-'")
        _check(show.id not in seen, src, f"{key}.id", f"duplicate show {show.id!r}")
        seen.add(show.id)
        _check(160 <= show.width <= 3840 and show.width % 2 == 0, src, f"{key}.width", "must be even, 160-3840")
        _check(
            90 <= show.height <= 3840 and show.height % 4 == 0, src, f"{key}.height", "must be a multiple of 4, 90-3840"
        )
        _check(1 <= show.fps <= 60, src, f"{key}.fps", "must be 1-60")
        _check(100_000 <= show.video_bitrate <= 50_000_000, src, f"{key}.video_bitrate", "out of range")
        _check(32_000 <= show.audio_bitrate <= 512_000, src, f"{key}.audio_bitrate", "out of range")
        _check(bool(show.studios), src, f"{key}.studios", "at least one studio is required")
        ids: set[str] = set()
        for j, studio in enumerate(show.studios):
            skey = f"{key}.studios[{j}].id"
            _check(bool(ID_RE.match(studio.id)), src, skey, f"{studio.id!r} must be lowercase letters, digits, '-'")
            _check(studio.id not in ids, src, skey, f"duplicate studio {studio.id!r}")
            ids.add(studio.id)
        pids: set[str] = set()
        for j, product in enumerate(show.products):
            pkey = f"{key}.products[{j}]"
            _check(bool(product.id) and product.id not in pids, src, f"{pkey}.id", "missing or duplicate")
            pids.add(product.id)
            _check(product.price >= 0, src, f"{pkey}.price", "must not be negative")
        _check(show.outputs.hls_segment_seconds >= 1, src, f"{key}.outputs.hls_segment_seconds", "must be >= 1")
        _check(2 <= show.outputs.hls_window <= 100, src, f"{key}.outputs.hls_window", "must be 2-100")
    return config


def parse(data: dict[str, Any], source: str = "<memory>") -> Config:
    unknown = sorted(set(data) - {"server", "shows"})
    if unknown:
        raise ConfigError(f"{source}: {unknown[0]}: unknown key")
    server = _build(Server, data.get("server", {}), "server", source)
    shows = _convert(tuple[Show, ...], data.get("shows", []), "shows", source)
    return validate(Config(server=server, shows=shows, source=source))


def load(path: str | Path) -> Config:
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
    return parse(data, src)


def with_overrides(config: Config, **server_overrides: Any) -> Config:
    """Apply command-line flags (None means 'not given') and re-validate."""
    changes = {k: v for k, v in server_overrides.items() if v is not None}
    server = dataclasses.replace(config.server, **changes)
    return validate(dataclasses.replace(config, server=server, source=f"{config.source} (+flags)"))
