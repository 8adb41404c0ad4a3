"""HTTPS from the config: browsers only give a page the camera on a secure origin."""

from __future__ import annotations

import dataclasses
import datetime
import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orchestrator.app import create_app, ssl_context
from orchestrator.config import ConfigError
from orchestrator.links import tokens_for
from tests.conftest import make_config


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_serves_the_join_page_over_https(tmp_path: Path, unused_tcp_port: int) -> None:
    cert, key = _self_signed(tmp_path)
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
