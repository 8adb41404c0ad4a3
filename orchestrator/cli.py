"""`broadcast serve | demo | links | hash-password` (also `python -m orchestrator`)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
from pathlib import Path

from aiohttp import web

from orchestrator.config import Config, ConfigError, load
from orchestrator.links import join_links

EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "wuhan-0510.toml"


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"--listen wants HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _add_server_flags(p: argparse.ArgumentParser, config_required: bool) -> None:
    p.add_argument("--config", required=config_required, help="show configuration (TOML)")
    p.add_argument("--listen", type=_listen, help="HOST:PORT to serve on (overrides the file)")
    p.add_argument(
        "--ice-host",
        action="append",
        metavar="ADDR",
        help="address to offer as ICE host candidate (repeatable; 127.0.0.1 works)",
    )
    p.add_argument("--operator-token", help="bearer token for the control API")
    p.add_argument("--redis", metavar="URL", help="keep state in Redis (redis://host:port/db)")
    p.add_argument("--data-dir", metavar="DIR", help="where HLS segments and recordings go")
    p.add_argument("--cluster", action="store_const", const=True, help="run as one node of a cluster (needs --redis)")
    p.add_argument("--node-id", help="this node's id in a cluster (server.node_id)")
    p.add_argument("--public-url", metavar="URL", help="where other nodes send clients for our shows")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="broadcast", description="Multi-room broadcast orchestrator")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    _add_server_flags(serve, config_required=True)
    demo = sub.add_parser("demo", help="run the example show with synthetic studios")
    _add_server_flags(demo, config_required=False)
    demo.add_argument("--studios", type=int, default=3, help="how many synthetic studios (default 3)")
    demo.add_argument("--cut-every", type=float, default=6.0, help="seconds between automatic cuts; 0 = never")
    demo.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds; 0 = run on")
    links = sub.add_parser("links", help="print join links, one JSON object per line")
    links.add_argument("--config", required=True)
    links.add_argument("--base-url", default=None, help="public base URL (default: the listen address)")
    sub.add_parser(
        "hash-password",
        help="make a password_hash for an operator (reads the password from the terminal or stdin)",
    )
    return p


async def link_generations(config: Config) -> dict[str, dict[str, int]]:
    """Each studio's current link generation (show -> studio -> n), read from the state store.

    Raises StoreUnavailable when Redis does not answer. With the memory store the server's
    reissues live only in its own process: returns {} (the caller says so).
    """
    if not config.server.redis_url:
        return {}
    from orchestrator.redisstore import RedisStore

    store = RedisStore(config.server.redis_url)
    try:
        return {show.id: dict((await store.get(show.id)).link_gens) for show in config.shows}
    finally:
        await store.close()


def print_links(config: Config, base_url: str | None) -> int:
    from orchestrator.store import StoreUnavailable

    base = base_url or f"http://{config.server.listen_host}:{config.server.listen_port}"
    try:
        generations = asyncio.run(link_generations(config))
    except StoreUnavailable as exc:
        print(f"broadcast: cannot read the current links from Redis: {exc}", file=sys.stderr)
        return 1
    if not config.server.redis_url:
        print(
            "broadcast: note: the server keeps its state in memory (no redis_url), so links reissued "
            "since it started are not visible here; these are the original links. Current ones: "
            "GET /api/shows/{show}/links or the control page.",
            file=sys.stderr,
        )
    for link in join_links(config, base, generations):
        print(json.dumps(link, ensure_ascii=False))
    return 0


def hash_password_command() -> int:
    from orchestrator.passwords import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("broadcast: the two passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        print("broadcast: a password needs at least 8 characters", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


def build_config(args: argparse.Namespace) -> Config:
    """The config file with the command line's ``[server]`` flags applied before it is checked."""
    host, port = args.listen if getattr(args, "listen", None) else (None, None)
    flags = {
        "listen_host": host,
        "listen_port": port,
        "ice_hosts": tuple(args.ice_host) if getattr(args, "ice_host", None) else None,
        "operator_token": getattr(args, "operator_token", None),
        "redis_url": getattr(args, "redis", None),
        "data_dir": getattr(args, "data_dir", None),
        "cluster": getattr(args, "cluster", None),
        "node_id": getattr(args, "node_id", None),
        "public_url": getattr(args, "public_url", None),
    }
    return load(args.config or EXAMPLE_CONFIG, flags)


def serve(config: Config) -> None:
    """Run the server until stopped; ConfigError, StartupError (a port in use) before anything starts."""
    from orchestrator.accesslog import RedactingAccessLogger
    from orchestrator.app import create_app, ssl_context
    from orchestrator.listensockets import bind_http

    tls = ssl_context(config)
    sock = bind_http(config)  # before any show starts: a port in use is one line, nothing written
    web.run_app(
        create_app(config),
        sock=sock,
        ssl_context=tls,
        access_log_class=RedactingAccessLogger,
        print=lambda msg: print(msg, flush=True),
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "hash-password":
        return hash_password_command()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aioice").setLevel(logging.WARNING)
    try:
        config = build_config(args)
    except ConfigError as exc:
        print(f"broadcast: config error: {exc}", file=sys.stderr)
        return 2
    if args.command == "links":
        return print_links(config, args.base_url)
    from orchestrator.datadir import check_data_dir
    from orchestrator.listensockets import StartupError

    try:
        check_data_dir(config)  # before any port is taken or show started
        if args.command == "demo":
            from orchestrator.demo import run_demo

            return run_demo(config, studios=args.studios, cut_every=args.cut_every, duration=args.duration)
        serve(config)
    except ConfigError as exc:  # the TLS files are only read here
        print(f"broadcast: config error: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"broadcast: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0
