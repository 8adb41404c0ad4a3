"""Who may call what, over the whole route table.

Deny by default: every route the policy protects answers 401 without credentials; and the
matrix: no credentials, a studio's join token, producer, links, director, another show's
operator, a session cookie without CSRF token, a cookie from a foreign Origin.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from orchestrator import openapi
from orchestrator.app import create_app
from orchestrator.appkeys import THROTTLE
from orchestrator.auth import OUTSIDE_API, PERMISSIONS, PUBLIC_API, permission_for
from orchestrator.config import parse
from orchestrator.links import tokens_for
from orchestrator.loginthrottle import LoginThrottle
from orchestrator.operators import Permission, Role
from orchestrator.passwords import hash_password
from orchestrator.routes import routes
from tests.conftest import OPERATOR

DIRECTOR_PASSWORD = "director-password"
TOKENS = {"producer": "producer-token-1", "links": "links-token-12", "other": "other-show-token"}
PARAMS = {
    "show": "test-show",
    "studio": "alpha",
    "session": "no-such-session",
    "viewer": "no-such-viewer",
    "product": "soup",
    "slot": "main",
    "name": "no-such-destination",
    "source": "program",
    "feed": "no-such-feed",
    "talk": "no-such-talk",
}


def _show(show_id: str) -> dict[str, Any]:
    return {
        "id": show_id,
        "title": show_id,
        "width": 320,
        "height": 180,
        "studios": [{"id": "alpha", "name": "Alpha"}, {"id": "bravo", "name": "Bravo"}],
        "products": [{"id": "soup", "name": "Soup", "enterprise": "E", "price": 9.9}],
    }


def _config(tmp_path: Path) -> Any:
    return parse(
        {
            "server": {
                "operator_token": OPERATOR,
                "link_secret": "test-link-secret-0123456789",
                "data_dir": str(tmp_path / "data"),
                "operators": [
                    # A cheap hash (2**10): the cost travels with it, and tests need not wait.
                    {"name": "liu", "role": "director", "password_hash": hash_password(DIRECTOR_PASSWORD, 10)},
                    {"name": "chen", "role": "producer", "token": TOKENS["producer"]},
                    {"name": "wang", "role": "links", "token": TOKENS["links"]},
                    {"name": "zhao", "role": "director", "token": TOKENS["other"], "shows": ["other-show"]},
                ],
            },
            "shows": [_show("test-show"), _show("other-show")],
        },
        "access-config",
    )


def _route_url(path: str, join_token: str) -> str:
    path = re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: PARAMS.get(m.group(1), join_token), path)
    return path


def _table() -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in routes if isinstance(r, web.RouteDef)]


def test_every_route_has_a_deliberate_policy() -> None:
    """A new /api route must be entered in the policy; outside /api, named with its own check."""
    for method, path in _table():
        if path.startswith("/api/"):
            assert (method, path) in PERMISSIONS or (method, path) in PUBLIC_API, (method, path)
        else:
            assert (method, path) in OUTSIDE_API, (method, path)
    # ... and one that is not (a route someone forgets) needs a director, even outside /api.
    assert permission_for("POST", "/api/shows/{show}/forgotten") is Permission.SWITCH
    assert permission_for("GET", "/forgotten") is Permission.SWITCH
    # The document tells the same story: public /api routes are exactly those without credentials.
    documented = {k for k, op in openapi.OPERATIONS.items() if op.auth == "none" and k[1].startswith("/api/")}
    assert documented == set(PUBLIC_API)


def test_roles_say_exactly_what_each_may_do() -> None:
    producer = {k for k, p in PERMISSIONS.items() if Role.PRODUCER.may(p)}
    links = {k for k, p in PERMISSIONS.items() if Role.LINKS.may(p)}
    assert ("GET", "/api/shows/{show}/links") not in producer
    assert ("GET", "/api/shows/{show}/studios/{studio}/qr.svg") not in producer
    assert ("POST", "/api/shows/{show}/studios/{studio}/reissue") in links
    assert ("POST", "/api/shows/{show}/cut") not in links | producer
    assert ("POST", "/api/shows/{show}/cards") in producer and ("POST", "/api/shows/{show}/cards") not in links
    assert all(Role.DIRECTOR.may(p) for p in PERMISSIONS.values())
    # The crew hears the show (monitor, solo); the links desk does not.
    for route in (("POST", "/api/shows/{show}/monitor"), ("POST", "/api/shows/{show}/solo/{studio}")):
        assert route in producer and route not in links


@pytest.fixture
async def site(tmp_path: Path, aiohttp_server: Any) -> str:
    app = create_app(_config(tmp_path))
    app[THROTTLE] = LoginThrottle(free=1_000_000)  # the matrix itself sends hundreds of wrong tokens
    srv = await aiohttp_server(app, host="127.0.0.1")
    return str(srv.make_url("")).rstrip("/")


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], body: bytes | None = None
) -> int:
    async with http.request(method, url, headers=headers, data=body, allow_redirects=False) as res:
        return res.status  # never read: some answers stream forever (MJPEG)


async def _session(base: str) -> tuple[str, str]:
    """A director's session cookie value and its CSRF token, by password."""
    async with aiohttp.ClientSession() as http:
        body = {"name": "liu", "password": DIRECTOR_PASSWORD}
        async with http.post(base + "/api/login", json=body) as res:
            assert res.status == 200, await res.text()
            return res.cookies["broadcast_session"].value, res.headers["X-CSRF-Token"]


async def test_deny_by_default_every_protected_route_answers_401_without_credentials(site: str) -> None:
    join_token = tokens_for(_config(Path("/tmp"))).mint("test-show", "alpha")
    protected = [(m, p) for m, p in _table() if permission_for(m, p) is not None]
    assert len(protected) >= 35 and all(p.startswith("/api/") for _, p in protected)
    async with aiohttp.ClientSession() as http:
        for method, path in protected:
            body = b"{}" if method not in ("GET", "HEAD") else None
            got = await _call(http, method, site + _route_url(path, join_token), {}, body)
            assert got == 401, (method, path, got)
            if method == "GET":
                assert await _call(http, "HEAD", site + _route_url(path, join_token), {}) == 401, path


async def test_the_access_matrix_over_the_whole_route_table(site: str) -> None:
    join_token = tokens_for(_config(Path("/tmp"))).mint("test-show", "alpha")
    cookie, csrf = await _session(site)
    bearer = {name: {"Authorization": f"Bearer {token}"} for name, token in TOKENS.items()}
    bearer["director"] = {"Authorization": f"Bearer {OPERATOR}"}
    bearer["host"] = {"Authorization": f"Bearer {join_token}"}
    host = site.removeprefix("http://")
    checked = 0
    # Changes last, so the director's own calls (kick, panic, ...) do not disturb the reads.
    table = sorted(_table(), key=lambda r: r[0] != "GET")
    async with aiohttp.ClientSession() as http:
        for method, path in table:
            needed = permission_for(method, path)
            if needed is None:
                continue
            url = site + _route_url(path, join_token)
            unsafe = method not in ("GET", "HEAD", "OPTIONS")
            json_body = b"{}" if unsafe else None
            as_json = {"Content-Type": "application/json"}

            async def status(
                headers: dict[str, str], body: bytes | None = json_body, method: str = method, url: str = url
            ) -> int:
                return await _call(http, method, url, headers, body)

            where = f"{method} {path}"
            assert await status({}) == 401, where
            assert await status({**bearer["host"], **as_json}) == 401, where
            for role, name in ((Role.PRODUCER, "producer"), (Role.LINKS, "links")):
                got = await status({**bearer[name], **as_json})
                assert (got == 403) == (not role.may(needed)), (where, name, got)
            other = await status({**bearer["other"], **as_json})  # a director of another show
            assert (other == 403) == ("{show}" in path), (where, other)
            with_cookie = {"Cookie": f"broadcast_session={cookie}"}
            if unsafe:
                # The request: a foreign page posts text/plain with the cookie attached.
                foreign = {**with_cookie, "Origin": "http://evil.example", "Content-Type": "text/plain"}
                assert await status(foreign, b"{}") == 403, where
                # Even with the CSRF token, another origin is refused.
                assert await status({**foreign, "X-CSRF-Token": csrf}) == 403, where
                # Our own origin, but neither the token nor a JSON body: refused.
                plain = {**with_cookie, "Origin": f"http://{host}", "Content-Type": "text/plain"}
                assert await status(plain, b"{}") == 403, where
            checked += 1
        # Last, the positive controls: the director passes every check (the answer may be 400/404/409).
        for method, path in table:
            if permission_for(method, path) is None:
                continue
            url = site + _route_url(path, join_token)
            unsafe = method not in ("GET", "HEAD", "OPTIONS")
            got = await _call(http, method, url, {**bearer["director"], "Content-Type": "application/json"},
                              b"{}" if unsafe else None)  # fmt: skip
            assert got not in (401, 403, 429), (method, path, got)
            if unsafe:
                own = {"Cookie": f"broadcast_session={cookie}", "Origin": f"http://{host}", "X-CSRF-Token": csrf}
                got = await _call(http, method, url, {**own, "Content-Type": "text/plain"}, b"{}")
                assert got not in (401, 403, 429), ("cookie+csrf", method, path, got)
    assert checked >= 35


async def test_the_live_state_socket_refuses_a_foreign_page(site: str) -> None:
    cookie, _ = await _session(site)
    url = site + "/api/shows/test-show/ws"
    async with aiohttp.ClientSession(headers={"Cookie": f"broadcast_session={cookie}"}) as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url, origin="http://evil.example")
        assert refused.value.status == 403
        async with http.ws_connect(url, origin=site) as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "state"


async def test_a_producer_cannot_read_join_links_but_links_and_director_can(site: str) -> None:
    async with aiohttp.ClientSession() as http:
        url = site + "/api/shows/test-show/links"
        assert await _call(http, "GET", url, {"Authorization": f"Bearer {TOKENS['producer']}"}) == 403
        async with http.get(url, headers={"Authorization": f"Bearer {TOKENS['producer']}"}) as res:
            error = (await res.json())["error"]
            assert error.endswith("has the producer role; this needs the director or links role"), error
        async with http.get(url, headers={"Authorization": f"Bearer {TOKENS['links']}"}) as res:
            assert res.status == 200 and len((await res.json())["links"]) == 2
        # The show list shows an operator only their shows.
        async with http.get(site + "/api/shows", headers={"Authorization": f"Bearer {TOKENS['other']}"}) as res:
            assert [s["id"] for s in (await res.json())["shows"]] == ["other-show"]
        async with http.get(site + "/api/me", headers={"Authorization": f"Bearer {TOKENS['other']}"}) as res:
            assert await res.json() == {"name": "zhao", "role": "director", "shows": ["other-show"]}
