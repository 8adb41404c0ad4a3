"""The one typed, frozen configuration tree, loaded from TOML with strict keys.

Every mistake in a config file becomes one :class:`ConfigError` whose message
names the file, the key and what is wrong; the CLI prints it as one line.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
import typing
import zoneinfo
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from mixer.scene import FIT_MODES
from orchestrator.fields import (
    ID_RE,
    MAX_PROMO_CHARS,
    MAX_TEXT_CHARS,
    MAX_URL_CHARS,
    Count,
    FallbackPolicy,
    Flag,
    Id,
    InRange,
    Integer,
    Number,
    OneLine,
    OneOf,
    Orientation,
    Price,
    Programs,
    Text,
    TransitionMs,
    problems,
    short,
)
from orchestrator.passwords import hash_problem

__all__ = ["ID_RE", "Config", "ConfigError", "Product", "Show", "Studio", "load", "parse"]

# Every table refuses keys it does not know, and no float may be inf or nan. Scalars are strict
# (no "30" for 30, no true for 1) through their field types: Integer, Number, Text, Flag.
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


VIDEO_CODECS = ("h264", "vp8")


class ConfigError(Exception):
    """A config file or flag is wrong; the message is one readable line."""


@dataclass(frozen=True, config=STRICT)
class Product:
    """A product of the catalogue: the same rules from the config, a CSV/JSON import and the API."""

    id: Id
    name: Annotated[OneLine, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
    enterprise: Annotated[OneLine, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
    price: Price
    was_price: Price | None = None  # the crossed-out price on the card, yuan
    name_en: Annotated[OneLine, Field(max_length=MAX_TEXT_CHARS)] = ""
    promo: Annotated[OneLine, Field(max_length=MAX_PROMO_CHARS)] = ""
    buy_url: Annotated[OneLine, Field(max_length=MAX_URL_CHARS)] = ""
    image: Annotated[OneLine, Field(max_length=MAX_URL_CHARS)] = ""
    stock: Count | None = None


@dataclass(frozen=True, config=STRICT)
class Studio:
    id: Id
    name: Text
    place: Text = ""
    name_en: Text = ""
    host: Text = ""
    photo: Text = ""  # picture file shown on the studio's card when it sends audio only


@dataclass(frozen=True, config=STRICT)
class RtmpDestination:
    """An RTMP push target: ``url`` includes the stream key (never shown by the API)."""

    name: Text
    url: Text
    delay_s: Annotated[Number, InRange(0, 60, "seconds")] = 0.0  # broadcast delay of this push (delayline)
    program: Text = ""  # which program it pushes: "landscape" or "portrait" (empty: the show's main one)


@dataclass(frozen=True, config=STRICT)
class Outputs:
    hls: Flag = True
    flv: Flag = True
    hls_segment_seconds: Annotated[Number, InRange(1, 30, "seconds")] = 2.0
    hls_window: Annotated[Integer, InRange(2, 100, "segments in the playlist")] = 6
    whep: Flag = True  # WebRTC viewers at /whep/{show}
    whep_max_viewers: Annotated[Integer, InRange(1, 10_000)] = 500
    whep_viewer_token: Text = ""  # set: viewers must send it as Bearer token
    rtmp: tuple[RtmpDestination, ...] = ()  # pushed from the start; more can be added live
    rtmp_backoff_min: Number = 1.0  # seconds before the first reconnect, doubling up to the max
    rtmp_backoff_max: Number = 30.0  # seconds
    recording: Flag = False  # record from the start (the API starts and stops it too)
    recording_rotate_seconds: Annotated[Number, InRange(1, 86_400, "seconds")] = 600.0  # a new file after this long
    # Broadcast delay of the pull outputs (HLS, HTTP-FLV, WHEP) and the webhook; applied after
    # the one encode (mixer/outputs/delayline.py). The recording stays live.
    delay_s: Annotated[Number, InRange(0, 60, "seconds")] = 0.0


@dataclass(frozen=True, config=STRICT)
class Show:
    id: Id
    title: Text
    width: Integer = 1280  # pixels
    height: Integer = 720  # pixels
    fps: Integer = 30  # frames per second
    video_bitrate: Integer = 2_500_000  # bits per second
    audio_bitrate: Integer = 128_000  # bits per second
    studios: tuple[Studio, ...] = ()
    products: tuple[Product, ...] = ()
    outputs: Outputs = dataclasses.field(default_factory=Outputs)
    slate_text: Text = "Back soon · 马上回来"
    video_codec: Annotated[Text, OneOf(("", *VIDEO_CODECS))] = ""  # what studios send; empty: server.video_codec
    logo_text: Annotated[Text, Field(max_length=40)] = ""  # the logo in the top corner; empty = the title
    logo_image: Text = ""  # a picture file for the logo instead of the text
    # The mixer (mixer/program.py). Portrait swaps width/height if needed: 1280x720 -> 720x1280.
    # One program, shorthand for programs = [orientation] (default landscape); portrait: 9:16 for phones.
    orientation: Orientation | None = None
    # The show's programs, each its own canvas, graphics and encode from the one scene and audio mix
    # (mixer/canvas.py); the first is the main one. Absent: [orientation].
    programs: Programs | None = None
    # Studio pictures in their box: "fit" (coloured sides), "crop" (fill), "blur" (blurred sides).
    fit: Annotated[Text, OneOf(FIT_MODES)] = "fit"
    fill_colour: Text = "#000000"  # the sides in "fit" mode
    # Without a frame from the program studio this long, the fallback goes on air.
    fallback_after: Annotated[Number, InRange(0.2, 30, "seconds")] = 1.0
    backup_studio: Text = ""  # shown on a fallback if it is live (else the slate)
    # Studios not on program, preview or backup are decoded keyframes only (rooms/decodepolicy.py).
    standby_decode: Flag = True
    fallback_policy: FallbackPolicy = "auto"  # after a fallback: "auto" (return when steady) or "manual"
    # auto: steady delivery this long before the studio returns.
    fallback_return_after: Annotated[Number, InRange(0.2, 30, "seconds")] = 2.0
    transition_ms: TransitionMs = 500  # default duration of a take's fade/wipe/slide
    # Studios' audio arrives this much after their video (tests/mixer/test_audio_lipsync.py).
    av_sync_ms: Annotated[Integer, InRange(0, 300, "milliseconds")] = 50
    # Commerce back-ends get each timed metadata cue here, signed (orchestrator/webhook.py).
    webhook_url: Text = ""
    webhook_secret: Text = ""
    timezone: Text = "Asia/Shanghai"  # IANA zone for times shown to the crew (alarms, event CSV)

    def studio(self, studio_id: str) -> Studio | None:
        return next((s for s in self.studios if s.id == studio_id), None)

    @property
    def orientations(self) -> tuple[str, ...]:
        """The show's programs, main first: ``programs``, or the ``orientation`` shorthand."""
        return self.programs or (self.orientation or "landscape",)

    def canvas(self, orientation: str) -> tuple[int, int]:
        """(width, height) of a program: the show's size, long side across (landscape) or up (portrait)."""
        long, short = max(self.width, self.height), min(self.width, self.height)
        return (short, long) if orientation == "portrait" else (long, short)

    def program_id(self, orientation: str) -> str:
        """The name of a program's outputs: the show's id for the main one, ``{id}-{orientation}``
        for another (``/live/{show}-portrait/index.m3u8``, ``/whep/{show}-portrait``)."""
        return self.id if orientation == self.orientations[0] else f"{self.id}-{orientation}"


@dataclass(frozen=True, config=STRICT)
class IceServer:
    """A STUN or TURN server offered to studios (WHIP Link header) and used by our ICE agent."""

    urls: Text
    username: Text = ""
    credential: Text = ""


@dataclass(frozen=True, config=STRICT)
class Operator:
    """A person at the control page: ``director``, ``producer`` or ``links`` (orchestrator/operators.py).

    ``password_hash`` comes from ``broadcast hash-password``; a plaintext ``password`` still
    works but is deprecated (a warning at start-up). ``shows``: only these shows (empty: all).
    """

    name: Text
    role: Text = "producer"
    token: Text = ""
    password: Text = ""
    password_hash: Text = ""
    shows: tuple[Text, ...] = ()


@dataclass(frozen=True, config=STRICT)
class Server:
    listen_host: Text = "127.0.0.1"
    listen_port: Integer = 8080
    operator_token: Text = ""  # the director's API token (operator "director")
    operators: tuple[Operator, ...] = ()
    link_secret: Text = ""
    link_ttl_hours: Annotated[Number, InRange(0.1, 8760, "hours")] = 24.0  # six minutes to a year
    ice_hosts: tuple[Text, ...] = ()
    redis_url: Text = ""
    data_dir: Text = "var"
    max_body_bytes: Annotated[Integer, InRange(4096, 2**30, "bytes")] = 64 * 1024
    video_codec: Annotated[Text, OneOf(VIDEO_CODECS)] = "h264"  # H.264 decodes in half the time of VP8
    ice_servers: tuple[IceServer, ...] = ()
    ice_public_address: Text = ""  # 1:1 NAT: the public IP that maps to our host address
    ice_port_min: Integer = 0  # UDP ports for media; 0/0 = any port the OS picks
    ice_port_max: Integer = 0
    ingest_start_kbps: Integer = 1500  # bitrate hints to browsers so 720p starts at 720p
    ingest_min_kbps: Integer = 600
    tls_cert: Text = ""  # PEM files: both set = serve HTTPS (needed for cameras on any host but localhost)
    tls_key: Text = ""
    # A cluster (orchestrator/cluster.py; needs redis_url): each show runs on one node. Off: every
    # node runs every show. This node's id, the URL other nodes redirect to for the shows it runs,
    # and how long a show's lease lasts without renewal (longer than a Redis fail-over).
    cluster: Flag = False
    node_id: Text = ""  # empty: hostname-port
    public_url: Text = ""  # empty: http(s)://listen_host:listen_port
    lease_seconds: Annotated[Number, InRange(1, 60, "seconds")] = 3.0  # a take-over waits this long
    # RTMP studio ingest (orchestrator/rtmpingest.py): "host:port" to listen on, e.g. "127.0.0.1:1935"
    # ("0.0.0.0:1935" for encoders on other machines). Empty: off.
    rtmp_ingest: Text = ""


MAX_INGEST_WORKERS = 256


def _workers(value: object) -> object:
    if value == "auto" or (type(value) is int and 0 <= value <= MAX_INGEST_WORKERS):
        return value
    raise ValueError(
        f'must be "auto" (one per core) or a number of processes 0-{MAX_INGEST_WORKERS}; got {short(value)}'
    )


@dataclass(frozen=True, config=STRICT)
class Ingest:
    """Where studios are received (rooms/ingestpool.py): ``workers`` processes ("auto": one per
    core), or 0: in the server process itself."""

    workers: Annotated[Integer | Text, BeforeValidator(_workers)] = 0


@dataclass(frozen=True, config=STRICT)
class Config:
    server: Server
    shows: tuple[Show, ...]
    source: Text = "<memory>"
    ingest: Ingest = Ingest()

    def show(self, show_id: str) -> Show | None:
        return next((s for s in self.shows if s.id == show_id), None)

    def program(self, program_id: str) -> tuple[Show, str] | None:
        """The show and orientation of a program id (``{show}``: the main one; ``{show}-portrait``)."""
        for show in self.shows:
            for orientation in show.orientations:
                if show.program_id(orientation) == program_id:
                    return show, orientation
        return None


def _ranges() -> dict[tuple[str, str], tuple[float, float]]:
    """``(class, field) -> (lo, hi)`` of every ranged field, read from the models (docs, tests)."""
    out: dict[tuple[str, str], tuple[float, float]] = {}
    classes: tuple[Any, ...] = (Server, Outputs, Show, Product)
    for cls in classes:
        for f in dataclasses.fields(cls):
            info = cls.__pydantic_fields__[f.name]
            for meta in [*info.metadata, *_metadata(info.annotation)]:
                if isinstance(meta, InRange):
                    out[(cls.__name__, f.name)] = (meta.lo, meta.hi)
    return out


def _metadata(hint: Any) -> list[Any]:
    """The ``Annotated`` metadata anywhere in a type (``Price | None`` holds Price's)."""
    found = list(getattr(hint, "__metadata__", ()))
    for arg in typing.get_args(hint):
        found += _metadata(arg)
    return found


RANGES = _ranges()
_CONFIG = TypeAdapter(Config)


def _one_line(exc: ValidationError, src: str) -> ConfigError:
    key, problem = next(problems(exc), ("", "invalid"))
    return ConfigError(f"{src}: {key or 'top level'}: {problem}")


def _known_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


_ANY_HOST = ("", "0.0.0.0", "::")


def _is_listen_address(address: str, srv: Server) -> bool:
    """Whether ``host:port`` would bind over the HTTP listener (same port, overlapping hosts)."""
    host, _, port = address.strip().rpartition(":")
    host = host.strip("[]")
    return (
        port.isdigit()
        and int(port) == srv.listen_port
        and (host == srv.listen_host or host in _ANY_HOST or srv.listen_host in _ANY_HOST)
    )


def _check(cond: bool, src: str, key: str, what: str) -> None:
    if not cond:
        raise ConfigError(f"{src}: {key}: {what}")


def validate(config: Config) -> Config:
    """Check values that types alone cannot; raises ConfigError."""
    config = _apply_orientation(config)
    src, srv = config.source, config.server
    _check(0 < srv.listen_port < 65536, src, "server.listen_port", "must be 1-65535")
    _check(
        not _is_listen_address(srv.rtmp_ingest, srv),
        src,
        "server.rtmp_ingest",
        f"{srv.rtmp_ingest!r} is the HTTP listen address (server.listen_port): give it a port of its own",
    )
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
            _check(studio.id not in ids, src, skey, f"duplicate studio {studio.id!r}")
            ids.add(studio.id)
        pids: set[str] = set()
        for j, product in enumerate(show.products):
            pkey = f"{key}.products[{j}]"
            _check(product.id not in pids, src, f"{pkey}.id", f"duplicate product {product.id!r}")
            pids.add(product.id)
        _check("\0" not in show.logo_image, src, f"{key}.logo_image", "must not contain a NUL character")
        _check_outputs(show.outputs, src, f"{key}.outputs")
        for j, dest in enumerate(show.outputs.rtmp):
            _check(
                not dest.program or dest.program in show.orientations,
                src,
                f"{key}.outputs.rtmp[{j}].program",
                f"{dest.program!r} is not a program of this show ({', '.join(show.orientations)})",
            )
        _check(
            not show.webhook_url or show.webhook_url.startswith(("http://", "https://")),
            src,
            f"{key}.webhook_url",
            "must be an http:// or https:// URL",
        )
        _check(
            not show.webhook_url or len(show.webhook_secret) >= 16,
            src,
            f"{key}.webhook_secret",
            "needs at least 16 characters when webhook_url is set (it signs every delivery)",
        )
    _validate_mixer(config)
    return config


def _validate_media(config: Config) -> None:
    """WHIP media settings: codec, ICE servers and addresses, ports, bitrate hints, TLS."""
    src, srv = config.source, config.server
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
    """A show whose main program is portrait gets its long side vertical, whichever way width/height were given."""
    shows = tuple(
        dataclasses.replace(s, width=s.height, height=s.width)
        if s.orientations[0] == "portrait" and s.width > s.height
        else s
        for s in config.shows
    )
    return dataclasses.replace(config, shows=shows) if shows != config.shows else config


def _validate_mixer(config: Config) -> None:
    """Switching, layout and fallback settings of each show."""
    from mixer.planes import parse_colour

    src = config.source
    for i, show in enumerate(config.shows):
        key = f"shows[{i}]"
        try:
            parse_colour(show.fill_colour)
        except ValueError:
            raise ConfigError(f"{src}: {key}.fill_colour: {show.fill_colour!r} must be #rrggbb") from None
        _check(_known_zone(show.timezone), src, f"{key}.timezone", "must be an IANA time zone like Asia/Shanghai")
        _check(
            show.programs is None or show.orientation is None,
            src,
            f"{key}.orientation",
            "give either orientation (one program) or programs, not both",
        )
        taken = {s.id for s in config.shows} - {show.id}
        for orientation in show.orientations[1:]:
            _check(
                show.program_id(orientation) not in taken,
                src,
                f"{key}.programs",
                f"program {show.program_id(orientation)!r} has the name of another show",
            )
        _check(
            not show.backup_studio or show.studio(show.backup_studio) is not None,
            src,
            f"{key}.backup_studio",
            f"{show.backup_studio!r} is not a studio of this show",
        )
        for j, studio in enumerate(show.studios):
            _check_photo(studio.photo, src, f"{key}.studios[{j}].photo")


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
    _check(0 <= out.delay_s <= 60, src, f"{key}.delay_s", "must be 0-60 seconds")
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
        _check(0 <= dest.delay_s <= 60, src, f"{dkey}.delay_s", "must be 0-60 seconds")


def parse(data: dict[str, Any], source: str = "<memory>") -> Config:
    """Build and check the config from a TOML document; raises ConfigError (one line)."""
    unknown = sorted(set(data) - {"server", "shows", "ingest"})
    if unknown:
        raise ConfigError(f"{source}: {unknown[0]}: unknown key")
    tree = {"server": data.get("server", {}), "shows": data.get("shows", []), "source": source}
    if "ingest" in data:
        tree["ingest"] = data["ingest"]
    try:
        config = _CONFIG.validate_python(tree)
    except ValidationError as exc:
        raise _one_line(exc, source) from None
    return validate(config)


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
    source = f"{config.source} (+flags)"
    try:
        server = dataclasses.replace(config.server, **changes)
    except ValidationError as exc:
        raise _one_line(exc, source) from None
    return validate(dataclasses.replace(config, server=server, source=source))
