"""HTTPS from the config: browsers only give a page the camera on a secure origin."""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from orchestrator.app import create_app, ssl_context
from orchestrator.config import ConfigError
from orchestrator.links import tokens_for
from rooms.dtlscert import write_p256_certificate
from tests.conftest import make_config


async def test_serves_the_join_page_over_https(tmp_path: Path, unused_tcp_port: int) -> None:
    # Any self-signed certificate will do; the one our DTLS side makes is P-256, which TLS takes too.
    cert, key = write_p256_certificate(tmp_path)
    config = make_config(tmp_path)
    config = dataclasses.replace(
        config, server=dataclasses.replace(config.server, tls_cert=str(cert), tls_key=str(key))
    )
    tls = ssl_context(config)
    assert tls is not None
    runner = web.AppRunner(create_app(config))
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", unused_tcp_port, ssl_context=tls).start()
        trust = ssl.create_default_context(cafile=str(cert))
        trust.check_hostname = False  # the test certificate names an IP, not a host
        token = tokens_for(config).mint("test-show", "alpha")
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"https://127.0.0.1:{unused_tcp_port}/join/{token}", ssl=trust) as res,
        ):
            assert res.status == 200
            assert "/host/" in await res.text()  # the page, with its live channel
    finally:
        await runner.cleanup()


def test_unreadable_certificate_is_a_config_error(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config = dataclasses.replace(
        config, server=dataclasses.replace(config.server, tls_cert=str(tmp_path / "none.pem"), tls_key="x")
    )
    with pytest.raises(ConfigError, match="tls_cert"):
        ssl_context(config)
