"""`broadcast demo`: the example show on air with synthetic studios, no camera needed.

The studios are separate processes publishing through the same WHIP endpoint
as real hosts; the demo then cuts between them like a (very patient) director.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import subprocess
from itertools import cycle

from aiohttp import web

from mixer.graphics.text import format_price
from orchestrator.accesslog import RedactingAccessLogger
from orchestrator.app import create_app, ssl_context
from orchestrator.appkeys import SHOWS
from orchestrator.config import Config
from orchestrator.links import join_links
from orchestrator.listensockets import bind_http
from rooms.syntheticstudio import spawn_studio

TONES = (440.0, 554.0, 659.0, 784.0, 880.0, 988.0)


def _demo_config(config: Config) -> Config:
    # Synthetic studios run on this machine: loopback must be offered to them.
    hosts = config.server.ice_hosts
    if "127.0.0.1" not in hosts:
        hosts = ("127.0.0.1", *hosts)
    # The demo puts the first show on air; the district shows beside it would encode too (CPU).
    server = dataclasses.replace(config.server, ice_hosts=hosts)
    return dataclasses.replace(config, server=server, shows=config.shows[:1])


async def _run(config: Config, studios: int, cut_every: float, duration: float) -> None:
    tls = ssl_context(config)
    sock = bind_http(config)  # before the show starts (orchestrator/listensockets.py)
    app = create_app(config)
    runner = web.AppRunner(app, access_log_class=RedactingAccessLogger)
    await runner.setup()
    host, port = config.server.listen_host, config.server.listen_port
    await web.SockSite(runner, sock, ssl_context=tls).start()
    base = f"{'https' if tls else 'http'}://{host}:{port}"
    show = config.shows[0]
    show_runner = app[SHOWS][show.id]
    links = [link for link in join_links(config, base) if link["show"] == show.id]
    procs: list[subprocess.Popen[bytes]] = []
    for link, tone in zip(links[:studios], TONES, strict=False):
        studio = show.studio(link["studio"])
        label = f"{studio.name} {studio.name_en}" if studio else link["studio"]
        procs.append(
            spawn_studio(
                link["whip_url"],
                link["token"],
                label,
                tone_hz=tone,
                width=show.width,
                height=show.height,
                fps=show.fps,
                retry=True,
                exit_with_parent=True,
                verbose=False,
            )
        )
    print(
        f"\nDemo show {show.id!r} is live with {len(procs)} synthetic studios.\n"
        f"  control  {base}/control/{show.id}   (sign in with {config.server.operator_token})\n"
        f"  HLS      {base}/live/{show.id}/index.m3u8   (ffplay / VLC / ffprobe)\n"
        f"  HTTP-FLV {base}/live/{show.id}.flv\n"
        + "".join(
            f"  {o:<8} {base}/live/{show.program_id(o)}/index.m3u8 and {base}/live/{show.program_id(o)}.flv\n"
            for o in show.orientations[1:]
        )
        + f"  state    curl -H 'Authorization: Bearer {config.server.operator_token}' {base}/api/shows/{show.id}\n"
        f"  cut      curl -H 'Authorization: Bearer {config.server.operator_token}' "
        f'-d \'{{"studio": "{show.studios[0].id}"}}\' {base}/api/shows/{show.id}/cut\n'
        f"  join     {links[-1]['join_url']}   (studio {links[-1]['studio']}; every link: broadcast links)\n"
        "Ctrl-C stops.\n",
        flush=True,
    )
    stop = asyncio.Event()
    watch = asyncio.ensure_future(_watch_studios(procs, [link["studio"] for link in links]))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration > 0:
        loop.call_later(duration, stop.set)
    order = cycle([link["studio"] for link in links[: len(procs)]])
    products = cycle(show.products)
    try:
        while not stop.is_set():
            if cut_every > 0 and procs:
                studio_id = next(order)
                await show_runner.cut(studio_id, "demo")
                await show_runner.show_lower_third(studio_id, "", "demo")
                line = f"cut to {studio_id}"
                if show.products:
                    product = next(products)
                    await show_runner.show_card("main", product.id, "demo", countdown_s=300)
                    line += f", card {product.name} ¥{format_price(product.price)}"
                print(line, flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), cut_every if cut_every > 0 else None)
    finally:
        watch.cancel()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        await runner.cleanup()


async def _watch_studios(procs: list[subprocess.Popen[bytes]], studios: list[str]) -> None:
    """Say so, once, when a synthetic studio's process ends (killed, crashed), and reap it."""
    told: set[int] = set()
    while True:
        for proc, studio in zip(procs, studios, strict=False):
            if proc.pid not in told and proc.poll() is not None:
                told.add(proc.pid)
                print(f"synthetic studio {studio} (pid {proc.pid}) ended with status {proc.returncode}", flush=True)
        await asyncio.sleep(1.0)


def run_demo(config: Config, studios: int = 3, cut_every: float = 6.0, duration: float = 0.0) -> int:
    asyncio.run(_run(_demo_config(config), max(0, studios), cut_every, duration))
    return 0
