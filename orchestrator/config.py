"""The one typed, frozen configuration tree, loaded from TOML with strict keys.

Every mistake in a config file becomes one :class:`ConfigError` whose message
names the file, the key and what is wrong; the CLI prints it as one line.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import reprlib
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from orchestrator.passwords import hash_problem

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
    photo: str = ""  # picture file shown on the studio's card when it sends audio only


@dataclass(frozen=True)
class RtmpDestination:
    """An RTMP push target: ``url`` includes the stream key (never shown by the API)."""

    name: str
    url: str


@dataclass(frozen=True)
class Outputs:
    hls: bool = True
    flv: bool = True
    hls_segment_seconds: float = 2.0
    hls_window: int = 6
    whep: bool = True  # WebRTC viewers at /whep/{show}
    whep_max_viewers: int = 500
    whep_viewer_token: str = ""  # set: viewers must send it as Bearer token
    rtmp: tuple[RtmpDestination, ...] = ()  # pushed from the start; more can be added live
    rtmp_backoff_min: float = 1.0  # seconds before the first reconnect, doubling up to the max
    rtmp_backoff_max: float = 30.0
    recording: bool = False  # record from the start (the API starts and stops it too)
    recording_rotate_seconds: float = 600.0  # a new file after this long


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
    video_codec: str = ""  # what studios send: "h264" or "vp8"; empty = server.video_codec
    logo_text: str = ""  # the logo in the top corner (POST .../logo); empty = the title
    logo_image: str = ""  # a picture file for the logo instead of the text
    # The mixer (mixer/program.py). Portrait swaps width/height if needed: 1280x720 -> 720x1280.
    orientation: str = "landscape"  # or "portrait" (9:16 for phones)
    fit: str = "fit"  # studio pictures in their box: "fit" (coloured sides), "crop" (fill), "blur" (blurred sides)
    fill_colour: str = "#000000"  # the sides in "fit" mode
    fallback_after: float = 1.0  # seconds without a frame from the program studio before the fallback
    backup_studio: str = ""  # shown on a fallback if it is live (else the slate)
    fallback_policy: str = "auto"  # after a fallback: "auto" (return when steady) or "manual" (mixer/fallback.py)
    fallback_return_after: float = 2.0  # auto: seconds of steady delivery before the studio returns
    transition_ms: int = 500  # default duration of a take's fade/wipe/slide
    av_sync_ms: int = 50  # studios' audio arrives this much after their video (tests/mixer/test_audio_lipsync.py)

    def studio(self, studio_id: str) -> Studio | None:
        return next((s for s in self.studios if s.id == studio_id), None)


@dataclass(frozen=True)
class IceServer:
    """A STUN or TURN server offered to studios (WHIP Link header) and used by our ICE agent."""

    urls: str
    username: str = ""
    credential: str = ""


VIDEO_CODECS = ("h264", "vp8")


@dataclass(frozen=True)
class Operator:
    """A person at the control page: ``director``, ``producer`` or ``links`` (orchestrator/operators.py).

    ``password_hash`` comes from ``broadcast hash-password``; a plaintext ``password`` still
    works but is deprecated (a warning at start-up). ``shows``: only these shows (empty: all).
    """

    name: str
    role: str = "producer"
    token: str = ""
    password: str = ""
    password_hash: str = ""
    shows: tuple[str, ...] = ()


@dataclass(frozen=True)
class Server:
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    operator_token: str = ""  # the director's API token (operator "director")
    operators: tuple[Operator, ...] = ()
    link_secret: str = ""
    link_ttl_hours: float = 24.0
    ice_hosts: tuple[str, ...] = ()
    redis_url: str = ""
    data_dir: str = "var"
    max_body_bytes: int = 64 * 1024
    video_codec: str = "h264"  # preferred studio codec: H.264 decodes in half the time of VP8
    ice_servers: tuple[IceServer, ...] = ()
    ice_public_address: str = ""  # 1:1 NAT: the public IP that maps to our host address
    ice_port_min: int = 0  # UDP ports for media; 0/0 = any port the OS picks
    ice_port_max: int = 0
    ingest_start_kbps: int = 1500  # bitrate hints to browsers so 720p starts at 720p
    ingest_min_kbps: int = 600
    tls_cert: str = ""  # PEM files: both set = serve HTTPS (needed for cameras on any host but localhost)
    tls_key: str = ""
    # A cluster (orchestrator/cluster.py; needs redis_url): each show runs on one node. Off: every
    # node runs every show. This node's id, the URL other nodes redirect to for the shows it runs,
    # and how long a show's lease lasts without renewal (longer than a Redis fail-over).
    cluster: bool = False
    node_id: str = ""  # empty: hostname-port
    public_url: str = ""  # empty: http(s)://listen_host:listen_port
    lease_seconds: float = 3.0


@dataclass(frozen=True)
class Config:
    server: Server
    shows: tuple[Show, ...]
    source: str = "<memory>"

    def show(self, show_id: str) -> Show | None:
        return next((s for s in self.shows if s.id == show_id), None)


# Every number is finite (checked for all of them when read); these also have a range,
# inclusive, in the unit the key names. One line per key; other ranges are checked in validate().
RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("Server", "link_ttl_hours"): (0.1, 8760),  # six minutes to a year
    ("Server", "max_body_bytes"): (4096, 2**30),
    ("Server", "lease_seconds"): (1, 60),  # a take-over waits this long after a node dies
    ("Outputs", "hls_segment_seconds"): (1, 30),
    ("Outputs", "recording_rotate_seconds"): (1, 86_400),
    ("Product", "price"): (0, 1e7),  # yuan: the API's limits (catalogue.MAX_PRICE, MAX_COUNT)
    ("Product", "was_price"): (0, 1e7),
    ("Product", "stock"): (0, 1e9),
}
_SHORT = reprlib.Repr()  # a value in an error message: bounded, never recursing
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 2, 40, 40

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
        bounds = RANGES.get((cls.__name__, f.name))
        value = kwargs[f.name]
        if bounds is not None and value is not None and not bounds[0] <= value <= bounds[1]:
            raise ConfigError(f"{src}: {key}: {value!r} is out of range {bounds[0]:g}-{bounds[1]:g}")
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
            raise ConfigError(f"{src}: {key}: expected a number, got {_SHORT.repr(value)}")
        if not math.isfinite(value) or abs(value) > 1e15:  # inf, nan; ints too large for a float
            raise ConfigError(f"{src}: {key}: must be a finite number of at most 1e15, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{src}: {key}: expected an integer, got {_SHORT.repr(value)}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{src}: {key}: expected true or false, got {_SHORT.repr(value)}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{src}: {key}: expected a string, got {_SHORT.repr(value)}")
        return value
    raise ConfigError(f"{src}: {key}: unsupported value")  # pragma: no cover


def _check(cond: bool, src: str, key: str, what: str) -> None:
    if not cond:
        raise ConfigError(f"{src}: {key}: {what}")


def validate(config: Config) -> Config:
    """Check values that types alone cannot; raises ConfigError."""
    config = _apply_orientation(config)
    src, srv = config.source, config.server
    _check(0 < srv.listen_port < 65536, src, "server.listen_port", "must be 1-65535")
    _check(len(srv.operator_token) >= 8, src, "server.operator_token", "must be at least 8 characters")
    _check(len(srv.link_secret) >= 16, src, "server.link_secret", "must be at least 16 characters")
    names = {"director"}
    for i, op in enumerate(srv.operators):
        key = f"server.operators[{i}]"
        _check(bool(op.name) and op.name not in names, src, f"{key}.name", "missing or duplicate operator name")
        names.add(op.name)
        _check(op.role in ("director", "producer", "links"), src, f"{key}.role", "must be director, producer or links")
        _check(
            len(op.token) >= 8 or len(op.password) >= 8 or bool(op.password_hash),
            src,
            key,
            "needs a token, password_hash or password of 8+ characters",
        )
        _check(not (op.password and op.password_hash), src, f"{key}.password", "password_hash or password, not both")
        problem = hash_problem(op.password_hash) if op.password_hash else None
        _check(problem is None, src, f"{key}.password_hash", str(problem))
        for j, show_id in enumerate(op.shows):
            _check(config.show(show_id) is not None, src, f"{key}.shows[{j}]", f"{show_id!r} is not a show")
    for i, host in enumerate(srv.ice_hosts):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(f"{src}: server.ice_hosts[{i}]: {host!r} is not an IP address") from None
    _validate_media(config)
    _check(
        not srv.node_id or bool(ID_RE.match(srv.node_id)),
        src,
        "server.node_id",
        "must be lowercase letters, digits, '-'",
    )
    _check(
        not srv.public_url or srv.public_url.startswith(("http://", "https://")),
        src,
        "server.public_url",
        "must start with http:// or https://",
    )
    problem = redis_url_problem(srv.redis_url) if srv.redis_url else None
    _check(problem is None, src, "server.redis_url", str(problem))
    for name in ("data_dir", "tls_cert", "tls_key"):
        _check("\0" not in getattr(srv, name), src, f"server.{name}", "must not contain a NUL character")
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
        _check(len(show.logo_text) <= 40, src, f"{key}.logo_text", "must be at most 40 characters")
        _check("\0" not in show.logo_image, src, f"{key}.logo_image", "must not contain a NUL character")
        _check(2 <= show.outputs.hls_window <= 100, src, f"{key}.outputs.hls_window", "must be 2-100")
        _check_outputs(show.outputs, src, f"{key}.outputs")
    _validate_mixer(config)
    return config


def _validate_media(config: Config) -> None:
    """WHIP media settings: codec, ICE servers and addresses, ports, bitrate hints, TLS."""
    src, srv = config.source, config.server
    _check(srv.video_codec in VIDEO_CODECS, src, "server.video_codec", 'must be "h264" or "vp8"')
    for i, show in enumerate(config.shows):
        _check(
            show.video_codec in ("", *VIDEO_CODECS), src, f"shows[{i}].video_codec", 'must be "h264", "vp8" or empty'
        )
    from aiortc.rtcicetransport import parse_stun_turn_uri

    for i, ice in enumerate(srv.ice_servers):
        _check(
            ice.urls.startswith(("stun:", "turn:", "turns:")),
            src,
            f"server.ice_servers[{i}].urls",
            f"{ice.urls!r} must start with stun:, turn: or turns:",
        )
        try:
            if any(c.isspace() for c in ice.urls):
                raise ValueError("malformed uri: spaces")
            port = parse_stun_turn_uri(ice.urls)["port"]
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"{src}: server.ice_servers[{i}].urls: {ice.urls!r}: {exc} (RFC 7064/7065)") from None
        _check(1 <= port <= 65535, src, f"server.ice_servers[{i}].urls", f"port {port} must be 1-65535")
        _check(
            not ice.urls.startswith("turn") or bool(ice.username and ice.credential),
            src,
            f"server.ice_servers[{i}]",
            "a TURN server needs username and credential",
        )
    if srv.ice_public_address:
        try:
            ipaddress.ip_address(srv.ice_public_address)
        except ValueError:
            raise ConfigError(
                f"{src}: server.ice_public_address: {srv.ice_public_address!r} is not an IP address"
            ) from None
    if srv.ice_port_min or srv.ice_port_max:
        _check(
            1024 <= srv.ice_port_min <= srv.ice_port_max <= 65535,
            src,
            "server.ice_port_min",
            "ice_port_min and ice_port_max must be 1024-65535 with min <= max (or both 0)",
        )
    _check(
        50 <= srv.ingest_min_kbps <= srv.ingest_start_kbps <= 20_000,
        src,
        "server.ingest_start_kbps",
        "need 50 <= ingest_min_kbps <= ingest_start_kbps <= 20000",
    )
    _check(bool(srv.tls_cert) == bool(srv.tls_key), src, "server.tls_key", "tls_cert and tls_key go together")


def _apply_orientation(config: Config) -> Config:
    """A portrait show gets its long side vertical, whichever way width/height were given."""
    shows = tuple(
        dataclasses.replace(s, width=s.height, height=s.width)
        if s.orientation == "portrait" and s.width > s.height
        else s
        for s in config.shows
    )
    return dataclasses.replace(config, shows=shows) if shows != config.shows else config


def _validate_mixer(config: Config) -> None:
    """Switching, layout and fallback settings of each show."""
    from mixer.fallback import POLICIES
    from mixer.planes import parse_colour
    from mixer.scene import FIT_MODES, MAX_TRANSITION_MS

    src = config.source
    for i, show in enumerate(config.shows):
        key = f"shows[{i}]"
        _check(
            show.orientation in ("landscape", "portrait"),
            src,
            f"{key}.orientation",
            'must be "landscape" or "portrait"',
        )
        _check(show.fit in FIT_MODES, src, f"{key}.fit", f"must be one of {', '.join(FIT_MODES)}")
        try:
            parse_colour(show.fill_colour)
        except ValueError:
            raise ConfigError(f"{src}: {key}.fill_colour: {show.fill_colour!r} must be #rrggbb") from None
        _check(0.2 <= show.fallback_after <= 30, src, f"{key}.fallback_after", "must be 0.2-30 seconds")
        _check(
            not show.backup_studio or show.studio(show.backup_studio) is not None,
            src,
            f"{key}.backup_studio",
            f"{show.backup_studio!r} is not a studio of this show",
        )
        _check(show.fallback_policy in POLICIES, src, f"{key}.fallback_policy", 'must be "auto" or "manual"')
        _check(0.2 <= show.fallback_return_after <= 30, src, f"{key}.fallback_return_after", "must be 0.2-30 seconds")
        for j, studio in enumerate(show.studios):
            _check_photo(studio.photo, src, f"{key}.studios[{j}].photo")
        _check(0 <= show.transition_ms <= MAX_TRANSITION_MS, src, f"{key}.transition_ms", "must be 0-5000")
        _check(0 <= show.av_sync_ms <= 300, src, f"{key}.av_sync_ms", "must be 0-300")


def _check_photo(path: str, src: str, key: str) -> None:
    """A studio's photo must be a picture file we can read (drawn later, when it sends audio only)."""
    from mixer.studiocard import load_photo

    if not path:
        return
    try:
        load_photo(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{src}: {key}: {path!r} is not a readable picture ({exc})") from None


def _check_outputs(out: Outputs, src: str, key: str) -> None:
    from mixer.outputs.rtmpoutput import NAME_RE, check_rtmp_url

    _check(1 <= out.whep_max_viewers <= 10_000, src, f"{key}.whep_max_viewers", "must be 1-10000")
    _check(
        not out.whep_viewer_token or len(out.whep_viewer_token) >= 8,
        src,
        f"{key}.whep_viewer_token",
        "must be empty or at least 8 characters",
    )
    _check(
        0.1 <= out.rtmp_backoff_min <= out.rtmp_backoff_max <= 600,
        src,
        f"{key}.rtmp_backoff_min",
        "need 0.1 <= rtmp_backoff_min <= rtmp_backoff_max <= 600",
    )
    names: set[str] = set()
    for i, dest in enumerate(out.rtmp):
        dkey = f"{key}.rtmp[{i}]"
        _check(
            bool(NAME_RE.match(dest.name)),
            src,
            f"{dkey}.name",
            f"{dest.name!r} must be lowercase letters, digits, '-', '_'",
        )
        _check(dest.name not in names, src, f"{dkey}.name", f"duplicate destination {dest.name!r}")
        names.add(dest.name)
        problem = check_rtmp_url(dest.url)
        _check(problem is None, src, f"{dkey}.url", str(problem))


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
    except RecursionError:
        raise ConfigError(f"{src}: not valid TOML: arrays or tables nested too deeply") from None
    return parse(data, src)


def redis_url_problem(url: str) -> str | None:
    """Why ``url`` cannot reach Redis (scheme, host, port 1-65535, database number), or None."""
    from urllib.parse import urlsplit

    from orchestrator.sentinelurl import SCHEME, parse_sentinel_url

    if url.startswith(SCHEME):
        try:
            parse_sentinel_url(url)
        except ValueError as exc:
            return str(exc)
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"{url!r}: bad port or not a URL ({exc})"
    if parts.scheme == "unix":
        return None if parts.path else "unix:// needs a socket path"
    if parts.scheme not in ("redis", "rediss"):
        return "must start with redis://, rediss://, unix:// or redis+sentinel://"
    if port is not None and not 1 <= port <= 65535:
        return f"port {port} must be 1-65535"
    db = parts.path.strip("/")
    if db and not (db.isdigit() and int(db) < 2**31):
        return f"database {db!r} must be a number"
    return None


def with_overrides(config: Config, **server_overrides: Any) -> Config:
    """Apply command-line flags (None means 'not given') and re-validate."""
    changes = {k: v for k, v in server_overrides.items() if v is not None}
    server = dataclasses.replace(config.server, **changes)
    return validate(dataclasses.replace(config, server=server, source=f"{config.source} (+flags)"))
