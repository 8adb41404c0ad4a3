"""Several nodes on one Redis are one service (orchestrator/cluster.py): each show runs on exactly
one node, any node answers with a redirect, and a node killed or paused is a short blip."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import aiohttp
import av
import pytest

from mixer.outputs.hlsplaylist import parse_playlist
from orchestrator.redisstore import RedisStore
from orchestrator.showlease import ShowLeases
from orchestrator.store import Event, Fenced
from tests.metricstext import sample
from tests.orchestrator.clusternodes import AUTH, LEASE_S, ClusterNodes, running_cluster
from tests.redisserver import RedisServer


async def _exactly_one_owner(nodes: ClusterNodes, timeout: float = 20) -> dict[str, int]:
    """Every show runs on exactly one node (asked of every node itself; never on two, and each
    on one once its start finishes); {show: node index}."""
    deadline = time.monotonic() + timeout
    while True:
        running = {i: await nodes.running(i) for i in nodes.alive()}
        where: dict[str, list[int]] = {s: [i for i, shows in running.items() if s in shows] for s in nodes.shows}
        assert all(len(h) <= 1 for h in where.values()), f"a show runs on two nodes: {where}"
        if all(len(h) == 1 for h in where.values()):
            return {s: h[0] for s, h in where.items()}
        assert time.monotonic() < deadline, f"shows not running: {where}"
        await asyncio.sleep(0.1)


class HlsPlayer:
    """FFmpeg's HLS demuxer (PyAV) reading a live playlist in a thread, as a player would:
    the wall time of every video packet it gets."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.arrivals: list[float] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with av.open(self.url, options={"rw_timeout": "8000000", "live_start_index": "-2"}) as container:
                for packet in container.demux(video=0):
                    if packet.size:
                        self.arrivals.append(time.monotonic())
                    if self._stop.is_set():
                        return
        except Exception as exc:  # the player gave up: recorded for the assertion
            self.error = repr(exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


async def _bytes(url: str) -> bytes:
    async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False) as res:
        assert res.status == 200, (url, res.status)
        return await res.read()


async def _playlist(nodes: ClusterNodes, via: int, show: str) -> str:
    """The show's playlist through node ``via``; an empty one while none is written yet (404)."""
    status, text = await nodes.call(via, "GET", f"/live/{show}/index.m3u8", timeout=3)
    if status == 404:
        return "#EXTM3U\n"  # the owner has not finished its first segment (a loaded machine: seconds)
    assert status == 200, (status, text)
    return str(text)


async def test_shows_spread_redirect_and_survive_a_killed_node(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, shows=3, nodes=3) as nodes:
        owners = await nodes.wait_owned()
        where = await _exactly_one_owner(nodes)
        assert {s: nodes.node_id(i) for s, i in where.items()} == owners
        assert len(set(where.values())) >= 2, f"the shows did not spread: {owners}"

        # Any node answers: a node that does not run the show redirects to the one that does.
        show = nodes.shows[0]
        owner = where[show]
        other = next(i for i in nodes.alive() if i != owner)
        for method, path in [
            ("GET", f"/api/shows/{show}"),
            ("POST", f"/whip/{show}/alpha"),
            ("POST", f"/whep/{show}"),
            ("GET", f"/live/{show}.flv"),
            ("GET", f"/control/{show}"),
        ]:
            status, location = await nodes.call(other, method, path, redirects=False)
            assert (status, location) == (307, nodes.urls[owner] + path), (method, path)
        # A browser (it sends Sec-Fetch-*) is relayed, not redirected: fetch would drop its credentials.
        browser = {**AUTH, "Sec-Fetch-Dest": "empty", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
        async with aiohttp.ClientSession() as http:
            url = nodes.urls[other] + f"/api/shows/{show}/preview"
            async with http.post(url, json={"studio": "bravo"}, headers=browser, allow_redirects=False) as res:
                assert res.status == 200, await res.text()
                assert (await res.json())["preview"] == "bravo"
            page = nodes.urls[other] + f"/control/{show}"
            async with http.get(page, headers={"Sec-Fetch-Dest": "document"}, allow_redirects=False) as res:
                assert res.status == 200 and "<html" in (await res.text()).lower()
        # The control page's live socket, opened on a node that does not run the show, is relayed.
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(nodes.urls[other].replace("http", "ws") + f"/api/shows/{show}/ws", headers=AUTH) as ws,
        ):
            first = await asyncio.wait_for(ws.receive_json(), 10)
            assert first["type"] == "state" and first["state"]["show"] == show
            assert first["node"] == nodes.node_id(owner)  # the control page shows it
        status, listed = await nodes.call(other, "GET", "/api/shows")
        assert status == 200 and [s["id"] for s in listed["shows"]] == nodes.shows
        # A command through another node lands on the owner: the client follows the 307 with its
        # token (clients drop Authorization on a redirect to another origin: curl --location-trusted).
        status, location = await nodes.call(other, "POST", f"/api/shows/{show}/logo", {"on": True}, redirects=False)
        assert status == 307
        status, body = await nodes.call(owner, "POST", location.removeprefix(nodes.urls[owner]), {"on": True})
        assert status == 200, body
        rtmp = {"name": "cdn-a", "url": "rtmp://127.0.0.1:9/live/key"}  # nothing listens: it retries
        status, body = await nodes.call(owner, "POST", f"/api/shows/{show}/outputs/rtmp", rtmp)
        assert status in (200, 201), body
        status, metrics = await nodes.call(other, "GET", "/metrics")
        assert sample(metrics, "broadcast_show_owner", show=show, node=nodes.node_id(owner)) == 1

        # HLS is on air before the kill.
        async with asyncio.timeout(40):
            while not parse_playlist(await _playlist(nodes, other, show)).segments:
                await asyncio.sleep(0.3)
        before = parse_playlist(await _playlist(nodes, other, show))
        # HLS: any node serves it from the shared data_dir (no redirect), the same bytes as the owner.
        status, text = await nodes.call(other, "GET", f"/live/{show}/index.m3u8", redirects=False)
        assert status == 200 and "#EXTM3U" in text
        name = before.segments[-1].name
        here = await _bytes(nodes.urls[other] + f"/live/{show}/{name}")
        assert here == await _bytes(nodes.urls[owner] + f"/live/{show}/{name}") and len(here) > 0

        player = HlsPlayer(nodes.urls[other] + f"/live/{show}/index.m3u8")
        async with asyncio.timeout(20):
            while not player.arrivals and player.error is None:
                await asyncio.sleep(0.1)
        nodes.kill(owner)
        killed_at = time.monotonic()
        after_owners = await nodes.wait_owned(via=other, timeout=20, but=nodes.node_id(owner))
        taken = time.monotonic() - killed_at
        print(f"take-over measured: {taken:.2f} s (lease {LEASE_S:g} s)")
        assert taken < 12, f"take-over took {taken:.1f} s"  # goal 5 s; margin for a loaded box
        await _exactly_one_owner(nodes)
        new_owner = nodes.index(after_owners[show])
        # The state came back from Redis on the new node.
        status, state = await nodes.call(new_owner, "GET", f"/api/shows/{show}")
        assert status == 200 and state["logo"] is True, state
        _, pushes = await nodes.call(new_owner, "GET", f"/api/shows/{show}/outputs/rtmp")
        assert [d["name"] for d in pushes["destinations"]] == ["cdn-a"]  # the push resumes there
        # HLS continues at the same URL: the sequence goes on, a discontinuity marks the seam.
        async with asyncio.timeout(20):
            while True:  # the player keeps its URL (a node that survived, not necessarily the owner)
                now = parse_playlist(await _playlist(nodes, other, show))
                if now.next_sequence > before.next_sequence + 1 and any(s.discontinuity for s in now.segments):
                    break
                await asyncio.sleep(0.3)
        assert now.media_sequence >= before.media_sequence
        # The player kept its URL and plays the new node's program after the seam.
        async with asyncio.timeout(20):
            while not any(t > killed_at + taken + 1 for t in player.arrivals) and player.error is None:
                await asyncio.sleep(0.2)
        player.stop()
        assert player.error is None, player.error
        gap = max(b - a for a, b in zip(player.arrivals, player.arrivals[1:], strict=False))
        print(f"HLS player: longest gap between video packets {gap:.2f} s")
        _, events = await nodes.call(new_owner, "GET", f"/api/shows/{show}/events?limit=500")
        placed = [e for e in events["events"] if e["kind"] == "cluster.placed"]
        assert placed[-1]["detail"]["node"] == after_owners[show]
        assert placed[-1]["detail"]["previous"] == nodes.node_id(owner)


async def test_a_paused_node_that_wakes_after_its_lease_neither_writes_nor_airs(tmp_path: Path) -> None:
    async with running_cluster(tmp_path, shows=1, nodes=2) as nodes:
        owners = await nodes.wait_owned()
        show = nodes.shows[0]
        paused = nodes.index(owners[show])
        other = 1 - paused
        playlist = tmp_path / "data" / "live" / show / "index.m3u8"
        async with asyncio.timeout(20):
            while not playlist.exists() or not parse_playlist(playlist.read_text()).segments:
                await asyncio.sleep(0.2)
        nodes.pause(paused)  # SIGSTOP: its sockets stay open, it believes it still owns the show
        await nodes.wait_owned(via=other, timeout=20, but=nodes.node_id(paused))
        assert await nodes.running(other) == {show}
        # The new owner's HLS is on air in the shared directory.
        async with asyncio.timeout(20):
            while not any(s.discontinuity for s in parse_playlist(playlist.read_text()).segments):
                await asyncio.sleep(0.2)
        nodes.resume(paused)
        # Awake, it finds its lease expired and stops the show's outputs at once: the playlist
        # in the shared directory never goes back to what the paused node had.
        seen = parse_playlist(playlist.read_text()).next_sequence
        async with asyncio.timeout(10):
            while show in await nodes.running(paused):
                now = parse_playlist(playlist.read_text()).next_sequence
                assert now >= seen, "the paused node wrote its stale playlist"
                seen = now
                await asyncio.sleep(0.02)
        for _ in range(150):  # the paused node closes its outputs within seconds
            now = parse_playlist(playlist.read_text()).next_sequence
            assert now >= seen, "the paused node wrote its stale playlist"
            seen = now
            await asyncio.sleep(0.05)
        await _exactly_one_owner(nodes)
        status, location = await nodes.call(paused, "GET", f"/api/shows/{show}", redirects=False)
        assert (status, location) == (307, nodes.urls[other] + f"/api/shows/{show}")


@pytest.fixture
async def redis_url() -> object:
    with RedisServer() as redis:
        yield redis.url


async def test_fencing_refuses_the_writes_of_a_node_whose_lease_was_taken(redis_url: str) -> None:
    """The split brain a paused node would cause, step by step: both believe they own the show;
    only the newest lease's writes are stored."""
    a, b = RedisStore(redis_url), RedisStore(redis_url)
    try:
        lease_a = ShowLeases(a.client, "node-a", ttl=1.0)
        lease_b = ShowLeases(b.client, "node-b", ttl=1.0)
        held_a = await lease_a.acquire("s")
        assert held_a is not None and await lease_b.acquire("s") is None
        a.fence("s", held_a.token)
        await a.update("s", lambda st: st)
        await asyncio.sleep(1.3)  # node a "paused": its lease expires
        held_b = await lease_b.acquire("s")
        assert held_b is not None and held_b.token > held_a.token
        b.fence("s", held_b.token)
        assert not await lease_a.renew(held_a)
        version = (await b.get("s")).version
        with pytest.raises(Fenced):
            await a.update("s", lambda st: st)  # a still believes it owns the show: refused
        with pytest.raises(Fenced):
            await a.add_event(Event("program.cut", "s", "stale", {}))
        assert (await b.get("s")).version == version
        assert await b.events("s") == []
        await b.update("s", lambda st: st)
        await b.add_event(Event("program.cut", "s", "owner", {}))
        assert (await b.get("s")).version == version + 1 and len(await b.events("s")) == 1
        assert (await lease_a.owner("s")) == (await lease_b.owner("s"))
    finally:
        await a.close()
        await b.close()


async def _browser_session_is_relayed_but_not_from_another_site(nodes: ClusterNodes, via: int, show: str) -> None:
    """The control page signed in on a node that does not run the show: its cookie and CSRF token
    work through the relay; the same cookie ridden by another site's page is refused by the owner."""
    base = nodes.urls[via]
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.post(base + "/api/login", json={"token": AUTH["Authorization"][7:]}) as res:
            assert res.status == 200, await res.text()
            csrf = res.headers["X-CSRF-Token"]
        page = {"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors", "X-CSRF-Token": csrf}
        url = base + f"/api/shows/{show}/preview"
        own = {**page, "Sec-Fetch-Site": "same-origin", "Origin": base}
        async with http.post(url, json={"studio": "alpha"}, headers=own, allow_redirects=False) as res:
            assert res.status == 200, await res.text()
        evil = {**page, "Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}
        async with http.post(url, json={"studio": "bravo"}, headers=evil, allow_redirects=False) as res:
            assert res.status == 403, await res.text()


async def test_an_operator_moves_a_show_to_another_node(tmp_path: Path) -> None:
    """A planned hand-over: the new node starts (prepares), then the old one stops; never both on
    air (sampled every 100 ms), HLS goes on at the same URL with exactly one discontinuity."""
    async with running_cluster(tmp_path, shows=1, nodes=2) as nodes:
        show = nodes.shows[0]
        source = nodes.index((await nodes.wait_owned())[show])
        target = nodes.node_id(1 - source)
        await _browser_session_is_relayed_but_not_from_another_site(nodes, 1 - source, show)
        status, body = await nodes.call(source, "POST", f"/api/shows/{show}/move", {"node": "nowhere"})
        assert status == 400, body
        playlist = tmp_path / "data" / "live" / show / "index.m3u8"
        async with asyncio.timeout(30):
            while not playlist.exists() or len(parse_playlist(playlist.read_text()).segments) < 2:
                await asyncio.sleep(0.2)
        seams: set[int] = set()  # sequence numbers of segments after an EXT-X-DISCONTINUITY
        sequences: list[int] = []

        def look() -> None:
            now = parse_playlist(playlist.read_text())
            seams.update(seg.sequence for seg in now.segments if seg.discontinuity)
            sequences.append(now.next_sequence)

        look()
        seams_before = set(seams)
        player = HlsPlayer(nodes.urls[1 - source] + f"/live/{show}/index.m3u8")
        async with asyncio.timeout(20):
            while not player.arrivals and player.error is None:
                await asyncio.sleep(0.1)
        status, body = await nodes.call(source, "POST", f"/api/shows/{show}/move", {"node": target})
        assert (status, body) == (202, {"show": show, "from": nodes.node_id(source), "to": target})
        moved_at = time.monotonic()
        async with asyncio.timeout(30):
            while (await nodes.owners(source)).get(show) != target:
                running = [await nodes.running(i) for i in (0, 1)]
                assert not (show in running[0] and show in running[1]), "the show ran on both nodes"
                look()
                await asyncio.sleep(0.1)
        # The new node's segments reach the shared playlist; the old node never writes again.
        async with asyncio.timeout(30):
            while not seams - seams_before or sequences[-1] < max(seams - seams_before) + 2:
                running = [await nodes.running(i) for i in (0, 1)]
                assert not (show in running[0] and show in running[1]), "the show ran on both nodes"
                look()
                await asyncio.sleep(0.1)
        assert (await _exactly_one_owner(nodes))[show] == 1 - source
        assert len(seams - seams_before) == 1, f"one discontinuity at the seam, not {seams - seams_before}"
        assert sequences == sorted(sequences), "the media sequence went backwards"
        async with asyncio.timeout(20):
            while not any(t > moved_at + 3 for t in player.arrivals) and player.error is None:
                await asyncio.sleep(0.2)
        player.stop()
        assert player.error is None, player.error
        gap = max(b - a for a, b in zip(player.arrivals, player.arrivals[1:], strict=False))
        print(f"planned move: HLS player's longest gap between video packets {gap:.2f} s")
        _, events = await nodes.call(1 - source, "GET", f"/api/shows/{show}/events?limit=500")
        moves = [e for e in events["events"] if e["kind"].startswith("cluster.")]
        kinds = [e["kind"] for e in moves]
        assert kinds[-3:] == ["cluster.move_requested", "cluster.moving", "cluster.placed"], kinds
        assert moves[-1]["detail"]["prepared"] is True  # it ran before the old node stopped
        print(f"planned move: outputs attached {moves[-1]['detail']['start_s']} s after the lease")
