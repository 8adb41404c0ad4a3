"""Sessions and sign-in: sign-out revokes server-side (every node), CSRF, slowed-down guessing,
password hashes, and no token in the access log."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from orchestrator.accesslog import RedactingAccessLogger, redact
from orchestrator.app import create_app
from orchestrator.config import Operator
from orchestrator.loginthrottle import LoginThrottle
from orchestrator.passwords import hash_password, verify_password
from orchestrator.sessions import RECHECK_SECONDS
from tests.conftest import Server, make_config
from tests.redisserver import RedisServer

PASSWORD = "director-password"


def _with_operators(config: Any, *operators: Operator) -> Any:
    return dataclasses.replace(config, server=dataclasses.replace(config.server, operators=operators))


async def _node(tmp_path: Path, aiohttp_server: Any, redis_url: str = "", **kw: Any) -> Server:
    config = _with_operators(
        make_config(tmp_path), Operator("liu", "director", password_hash=hash_password(PASSWORD, 10))
    )
    if redis_url:
        config = dataclasses.replace(config, server=dataclasses.replace(config.server, redis_url=redis_url))
    srv = await aiohttp_server(create_app(config), host="127.0.0.1", **kw)
    return Server.of(srv, config)


async def _sign_in(base: str) -> tuple[str, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(base + "/api/login", json={"name": "liu", "password": PASSWORD}) as res,
    ):
        assert res.status == 200
        return res.cookies["broadcast_session"].value, res.headers["X-CSRF-Token"]


async def _status(method: str, url: str, headers: dict[str, str], data: Any = None) -> int:
    async with aiohttp.ClientSession() as http, http.request(method, url, headers=headers, data=data) as res:
        await res.read()
        return res.status


async def test_sign_out_revokes_the_cookie_on_every_node(
    tmp_path: Path, aiohttp_server: Any, redis: RedisServer
) -> None:
    a = await _node(tmp_path / "a", aiohttp_server, redis.url)
    b = await _node(tmp_path / "b", aiohttp_server, redis.url)
    cookie, _ = await _sign_in(a.url)
    with_cookie = {"Cookie": f"broadcast_session={cookie}"}
    assert await _status("GET", a.url + "/api/me", with_cookie) == 200
    assert await _status("GET", b.url + "/api/me", with_cookie) == 200  # one secret: any node
    assert await _status("POST", a.url + "/api/logout", with_cookie) == 200
    # The same cookie, replayed (a copy, another tab, a thief): refused here at once, and on the
    # other node as soon as it asks the store again (it caches "still valid" for RECHECK_SECONDS).
    assert await _status("GET", a.url + "/api/me", with_cookie) == 401
    started = time.monotonic()
    while await _status("GET", b.url + "/api/me", with_cookie) != 401:
        assert time.monotonic() - started < RECHECK_SECONDS + 3, "the other node still accepts the cookie"
        await asyncio.sleep(0.1)
    assert (
        await _status(
            "POST",
            b.url + "/api/shows/test-show/cut",
            {**with_cookie, "Content-Type": "application/json"},
            b'{"studio": "alpha"}',
        )
        == 401
    )
    # A new sign-in works again.
    fresh, _ = await _sign_in(b.url)
    assert await _status("GET", a.url + "/api/me", {"Cookie": f"broadcast_session={fresh}"}) == 200


async def test_a_redis_outage_keeps_the_crew_signed_in_and_sign_out_honest(
    tmp_path: Path, aiohttp_server: Any, redis: RedisServer
) -> None:
    node = await _node(tmp_path, aiohttp_server, redis.url)
    cookie, _ = await _sign_in(node.url)
    other, _ = await _sign_in(node.url)
    redis.stop()
    await asyncio.sleep(RECHECK_SECONDS + 0.2)  # past the cache: the store is asked (and fails)
    started = time.monotonic()
    for _ in range(5):  # the page keeps working; a dead store is not asked on every request
        assert await _status("GET", node.url + "/api/me", {"Cookie": f"broadcast_session={cookie}"}) == 200
    assert time.monotonic() - started < 4
    # Signing out cannot reach the other nodes: it says so (503), and this node refuses the cookie.
    assert await _status("POST", node.url + "/api/logout", {"Cookie": f"broadcast_session={other}"}) == 503
    assert await _status("GET", node.url + "/api/me", {"Cookie": f"broadcast_session={other}"}) == 401


async def test_sign_out_without_redis_revokes_on_this_node(tmp_path: Path, aiohttp_server: Any) -> None:
    node = await _node(tmp_path, aiohttp_server)
    cookie, _ = await _sign_in(node.url)
    with_cookie = {"Cookie": f"broadcast_session={cookie}"}
    assert await _status("POST", node.url + "/api/logout", with_cookie) == 200
    assert await _status("GET", node.url + "/api/me", with_cookie) == 401


async def test_a_cross_site_cookie_post_is_refused(tmp_path: Path, aiohttp_server: Any) -> None:
    node = await _node(tmp_path, aiohttp_server)
    cookie, csrf = await _sign_in(node.url)
    cut = node.url + "/api/shows/test-show/cut"
    body = b'{"studio": "alpha"}'
    with_cookie = {"Cookie": f"broadcast_session={cookie}"}
    # The issue's request: another site's form posts text/plain; the browser attaches the cookie.
    attack = {**with_cookie, "Origin": "http://evil.example", "Content-Type": "text/plain"}
    assert await _status("POST", cut, attack, body) == 403
    assert (
        await _status(
            "POST", cut, {**with_cookie, "Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, body
        )
        == 403
    )
    assert await _status("POST", cut, {**with_cookie, "Content-Type": "text/plain"}, body) == 403
    _, state = await node.api("GET", "/api/shows/test-show")
    assert state["program"] is None  # none of them changed anything
    # Our own page: the CSRF token (any content type), or a JSON body.
    own = {**with_cookie, "Origin": node.url}
    assert await _status("POST", cut, {**own, "Content-Type": "text/plain", "X-CSRF-Token": csrf}, body) == 200
    assert await _status("POST", cut, {**own, "Content-Type": "application/json"}, body) == 200
    # Nor may another site sign the crew in or out (login CSRF).
    foreign = {"Origin": "http://evil.example", "Content-Type": "application/json"}
    assert await _status("POST", node.url + "/api/login", foreign, b'{"name": "liu", "password": "x"}') == 403
    # A token from another session does not count.
    _, other_csrf = await _sign_in(node.url)
    assert await _status("POST", cut, {**own, "Content-Type": "text/plain", "X-CSRF-Token": other_csrf}, body) == 403


async def test_guessing_passwords_is_slowed_down(tmp_path: Path, aiohttp_server: Any) -> None:
    node = await _node(tmp_path, aiohttp_server)
    statuses: list[int] = []
    retry_after: set[str] = set()
    async with aiohttp.ClientSession() as http:
        for i in range(200):
            async with http.post(node.url + "/api/login", json={"name": "liu", "password": f"guess-{i}"}) as res:
                statuses.append(res.status)
                if res.status == 429:
                    retry_after.add(res.headers["Retry-After"])
        # The right password is refused too while the account is locked: guessing learns nothing.
        async with http.post(node.url + "/api/login", json={"name": "liu", "password": PASSWORD}) as res:
            assert res.status == 429 and int(res.headers["Retry-After"]) >= 1
    assert statuses.count(401) <= 6 and statuses.count(429) >= 194, statuses[:10]
    assert retry_after and all(int(s) >= 1 for s in retry_after)
    # Wrong bearer tokens from one address are slowed down the same way.
    codes = [await _status("GET", node.url + "/api/me", {"Authorization": f"Bearer wrong-{i}"}) for i in range(12)]
    assert codes[:5] == [401] * 5 and codes[-1] == 429


def test_the_throttle_counts_per_client_and_per_account() -> None:
    now = [1000.0]
    throttle = LoginThrottle(free=3, base=1.0, cap=60.0, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed("client:a", "account:liu")
    assert throttle.retry_after("client:a", "account:liu") == 0  # three free tries
    throttle.failed("client:a", "account:liu")
    assert throttle.retry_after("client:a") == 1
    # The same account from another address is locked too; another account from there is not.
    assert throttle.retry_after("client:b", "account:liu") == 1
    assert throttle.retry_after("client:b", "account:chen") == 0
    throttle.failed("client:a", "account:liu")
    throttle.failed("client:a", "account:liu")
    assert throttle.retry_after("account:liu") == 4  # doubling: 1, 2, 4 s
    for _ in range(40):
        throttle.failed("account:liu")
    assert throttle.retry_after("account:liu") == 60  # capped
    now[0] += 61
    assert throttle.retry_after("account:liu") == 0
    throttle.succeeded("account:liu")
    throttle.failed("account:liu")
    assert throttle.retry_after("account:liu") == 0  # a success starts afresh


def test_password_hashes() -> None:
    encoded = hash_password("correct horse", 10)
    assert encoded.startswith("scrypt$ln=10,r=8,p=1$") and "correct" not in encoded
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horsf", encoded)
    assert hash_password("correct horse", 10) != encoded  # salted
    with pytest.raises(ValueError):
        verify_password("x", "plaintext")


def test_the_cli_makes_a_hash_that_signs_in(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "hash-password"],
        input="a-long-password\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert verify_password("a-long-password", done.stdout.strip())
    short = subprocess.run([sys.executable, "-m", "orchestrator", "hash-password"], input="short\n",
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert short.returncode == 2 and "8 characters" in short.stderr


async def test_a_plaintext_password_still_works_with_a_warning(
    tmp_path: Path, aiohttp_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = _with_operators(make_config(tmp_path), Operator("lin", "producer", password="plain-password"))
    with caplog.at_level(logging.WARNING):
        srv = await aiohttp_server(create_app(config), host="127.0.0.1")
    assert "server.operators[0].password: a plaintext password is deprecated" in caplog.text
    async with (
        aiohttp.ClientSession() as http,
        http.post(str(srv.make_url("/api/login")), json={"name": "lin", "password": "plain-password"}) as res,
    ):
        assert res.status == 200


async def test_no_token_in_the_access_log(
    tmp_path: Path, aiohttp_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    node = await _node(tmp_path, aiohttp_server, access_log_class=RedactingAccessLogger)
    token = node.token("alpha")
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        async with aiohttp.ClientSession() as http:
            async with http.get(node.url + f"/join/{token}", headers={"Referer": node.url + f"/join/{token}"}) as res:
                assert res.status == 200
            async with http.get(node.url + f"/host/{token}/ws?client=x") as res:
                await res.read()
            async with http.get(
                node.url + "/api/me", headers={"Authorization": f"Bearer {node.config.server.operator_token}"}
            ):
                pass
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) >= 3, lines
    text = "\n".join(lines)
    assert token not in text and node.config.server.operator_token not in text
    assert "/join/<redacted>" in text and "/host/<redacted>/ws" in text


def test_a_session_never_passes_as_a_join_token_nor_the_reverse() -> None:
    from orchestrator.operators import Actor, Role
    from orchestrator.sessions import Sessions
    from rooms.jointoken import JoinTokens, TokenError

    secret = "one-secret-for-both-0123456789"
    sessions, tokens = Sessions(secret), JoinTokens(secret, 3600)
    cookie, _ = sessions.issue(Actor("liu", Role.DIRECTOR))
    assert sessions.read(cookie) is not None
    with pytest.raises(TokenError):
        tokens.verify(cookie)
    assert sessions.read(tokens.mint("test-show", "alpha")) is None


def test_redact() -> None:
    assert redact("/join/abc.def?x=1") == "/join/<redacted>?x=1"
    assert redact("/host/abc.def/ws?client=1") == "/host/<redacted>/ws?client=1"
    assert redact("http://h/x?token=abc&b=2") == "http://h/x?token=<redacted>&b=2"
    assert redact("/api/shows/s") == "/api/shows/s"
