"""Kick a studio, reissue its link, and show the link as a QR code."""

from __future__ import annotations

import aiohttp

from tests.conftest import Server
from tests.whipclient import AiortcPublisher


async def _whip_status(server: Server, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.url + "/whip/test-show/alpha", data="v=0\r\n", headers=headers) as res,
    ):
        return res.status


async def test_reissue_voids_the_old_link_at_once(server: Server) -> None:
    _, links = await server.api("GET", "/api/shows/test-show/links")
    old = next(x for x in links["links"] if x["studio"] == "alpha")
    assert await _whip_status(server, old["token"]) == 400  # accepted; only the SDP is wrong
    publisher = AiortcPublisher(server.url, "test-show", "alpha", old["token"], "red")
    await publisher.start()
    await server.wait_for(lambda s: s["studios"][0]["online"])
    status, new = await server.api("POST", "/api/shows/test-show/studios/alpha/reissue")
    assert status == 200 and new["token"] != old["token"] and new["join_url"].endswith(new["token"])
    # The session on the old link ended, and the old link no longer opens anything.
    await server.wait_for(lambda s: not s["studios"][0]["online"], timeout=5)
    assert await _whip_status(server, old["token"]) == 401
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url + f"/join/{old['token']}") as res:
            assert res.status == 403 and "newer" in await res.text()
        async with http.get(server.url + f"/join/{new['token']}") as res:
            assert res.status == 200
    assert await _whip_status(server, new["token"]) == 400
    await publisher.stop()
    _, events = await server.api("GET", "/api/shows/test-show/events")
    assert "link.reissued" in [e["kind"] for e in events["events"]]


async def test_kick_ends_the_session_and_voids_the_link(server: Server) -> None:
    token = server.token("alpha")
    publisher = AiortcPublisher(server.url, "test-show", "alpha", token, "red")
    await publisher.start()
    await server.wait_for(lambda s: s["studios"][0]["online"])
    status, body = await server.api("POST", "/api/shows/test-show/studios/alpha/kick")
    assert status == 200 and body["kicked"]
    await server.wait_for(lambda s: not s["studios"][0]["online"], timeout=5)
    assert await _whip_status(server, token) == 401
    assert (await server.api("POST", "/api/shows/test-show/studios/zulu/kick"))[0] == 404
    await publisher.pc.close()


async def test_qr_code_of_the_join_link(server: Server) -> None:
    async with aiohttp.ClientSession(headers=server.auth) as http:
        async with http.get(server.url + "/api/shows/test-show/studios/bravo/qr.svg") as res:
            assert res.status == 200 and res.content_type == "image/svg+xml"
            assert b"<svg" in await res.read()
        async with http.get(server.url + "/api/shows/test-show/studios/zulu/qr.svg") as res:
            assert res.status == 404
