"""The stored state never goes backwards unnoticed, and everything the crew sets survives a
restart: real redis-server restarted empty, from an old snapshot, and with the project's
own persistence (configs/redis.conf); server nodes restarted over the same Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.auditevents import commands, kinds
from tests.orchestrator.faultnode import SHOW, Node, Stored, same_show, start_node
from tests.redisserver import RedisServer

API = f"/api/shows/{SHOW}"


async def _ok(node: Node, method: str, path: str, body: Any = None) -> Any:
    status, answer = await node.api(method, API + path, json=body)
    assert status in (200, 201), (method, path, status, answer)
    return answer


async def _build_up_a_show(node: Node) -> None:
    """Version > 5: program, preview, a card, a gain, a revoked join link."""
    await _ok(node, "POST", "/cut", {"studio": "alpha"})
    await _ok(node, "POST", "/preview", {"studio": "bravo"})
    await _ok(node, "POST", "/cards", {"product": "soup"})
    await _ok(node, "POST", "/audio/alpha", {"gain_db": -6})
    await _ok(node, "POST", "/studios/alpha/reissue")


async def test_redis_restarted_empty_is_restored_not_obeyed(
    tmp_path: Path, aiohttp_server: Any, redis: RedisServer
) -> None:
    node = await start_node(tmp_path, aiohttp_server, redis.url, "a")
    stored = Stored(redis.url)
    old_link = node.token("alpha")  # generation 0
    try:
        await _build_up_a_show(node)
        assert await node.join_status(old_link) != 200
        before = await stored.state()
        assert before.version >= 6
        redis.stop()
        redis.start()  # empty: no persistence
        assert (await stored.state()).version == 0
        # The next command, even a preview, must not roll the show back.
        answer = await _ok(node, "POST", "/preview", {"studio": "alpha"})
        assert answer["version"] > before.version
        after = await stored.state()
        assert after.version > before.version
        assert (after.program, after.preview) == ("alpha", "alpha")
        assert after.cards["main"]["product"] == "soup"
        assert after.gains_db == {"alpha": -6.0}
        assert after.link_gens == {"alpha": 1}
        assert await node.join_status(old_link) != 200  # the revoked link stays revoked
        assert node.runner.program.scene.program == "alpha"  # on air: unchanged
        await node.drained()
        events = await stored.events()
        # Loudly: an audit event, and the node's own events written again before it.
        assert "state.restored" in kinds(events)
        # Commands only: an alarm or an output's retry may be written after them at any time.
        done = kinds(commands(events))
        assert done[-1] == "preview.set", done
        assert done.count("program.cut") == 1 and done.count("link.reissued") == 1, done
    finally:
        await stored.close()


async def test_redis_back_from_an_old_snapshot_is_repaired_without_a_command(
    tmp_path: Path, aiohttp_server: Any, redis: RedisServer
) -> None:
    node = await start_node(tmp_path, aiohttp_server, redis.url, "a")
    stored = Stored(redis.url)
    try:
        await _ok(node, "POST", "/cut", {"studio": "alpha"})
        await _ok(node, "POST", "/preview", {"studio": "bravo"})
        snapshot = redis.snapshot()  # program alpha, preview bravo
        await _ok(node, "POST", "/take", {"transition": "cut"})  # program bravo, preview alpha
        await _ok(node, "POST", "/studios/bravo/kick")
        await _ok(node, "POST", "/audio/bravo", {"mute": True})
        await _ok(node, "PUT", "/rundown", {"studios": {"bravo": ["soup"]}})
        before = await stored.state()
        redis.stop()
        redis.start(snapshot=snapshot)
        old = await stored.state()
        assert old.version < before.version and old.program == "alpha"
        # The node notices on its own (its change feed reconnects) and puts its state back.
        async with asyncio.timeout(15):
            while (await stored.state()).version <= before.version:
                await asyncio.sleep(0.1)
        repaired = await stored.state()
        assert same_show(repaired, before) and repaired.link_gens == {"bravo": 1}
        # The documents beside the state (rundown, imported products) are written back too.
        assert await stored.store.get_doc(SHOW, "rundown") == {"bravo": ["soup"]}
        # A preview from the crew now moves nothing on air.
        await _ok(node, "POST", "/preview", {"studio": "bravo"})
        assert node.runner.program.scene.program == "bravo"
        assert (await stored.state()).program == "bravo"
        await node.drained()
        assert "state.restored" in await stored.kinds()
    finally:
        await stored.close()


# Every crew command, with the body that makes it change something.
CREW_COMMANDS: list[tuple[str, str, Any]] = [
    ("POST", "/cut", {"studio": "alpha"}),
    ("POST", "/preview", {"studio": "bravo"}),
    ("POST", "/layout", {"layout": "pip", "studios": ["alpha", "bravo"], "corner": "top-left"}),
    ("POST", "/take", {"transition": "fade", "duration_ms": 200}),
    ("POST", "/cards", {"product": "soup", "slot": "main", "countdown_s": 300}),
    ("PATCH", "/products/soup", {"stock": 7, "sold": 3, "promo": "限时"}),
    ("POST", "/lower-third", {"studio": "alpha", "text": "汪集 live"}),
    ("POST", "/logo", {"on": True}),
    ("POST", "/audio/alpha", {"gain_db": -6.5}),
    ("POST", "/audio/bravo", {"mute": True}),
    ("POST", "/fallback-policy", {"policy": "manual"}),
    ("POST", "/studios/alpha/cue", {"product": "soup", "message": "show the soup"}),
    ("POST", "/outputs/rtmp", {"name": "cdn-a", "url": "rtmp://127.0.0.1:9/live/key-a"}),
    ("POST", "/outputs/rtmp", {"name": "cdn-b", "url": "rtmp://127.0.0.1:9/live/key-b"}),
    ("DELETE", "/outputs/rtmp/cdn-b", None),
    ("POST", "/recording", {"on": True}),
    ("POST", "/studios/alpha/reissue", None),
    ("POST", "/studios/bravo/kick", None),
    ("POST", "/panic", {"on": True}),
]


def _without_left(cards: Any) -> Any:
    """The cards' view without ``countdown_left_s`` (it depends on when the view was read)."""
    if isinstance(cards, dict):
        return {k: _without_left(v) for k, v in cards.items() if k != "countdown_left_s"}
    if isinstance(cards, list):
        return [_without_left(v) for v in cards]
    return cards


def _countdowns_left(cards: Any) -> list[int]:
    """Every ``countdown_left_s`` in the cards' view, in order."""
    if isinstance(cards, dict):
        own = [cards["countdown_left_s"]] if cards.get("countdown_left_s") is not None else []
        return own + [x for k, v in cards.items() if k != "countdown_left_s" for x in _countdowns_left(v)]
    if isinstance(cards, list):
        return [x for v in cards for x in _countdowns_left(v)]
    return []


async def test_everything_the_crew_sets_survives_restarts(tmp_path: Path, aiohttp_server: Any) -> None:
    """Each command, then the server restarted over Redis restarted with the project's
    persistence: the new node puts the same show on air, recording and RTMP included."""
    with RedisServer(persistent=True) as redis:
        a = await start_node(tmp_path, aiohttp_server, redis.url, "a")
        old_links = {s: a.token(s) for s in ("alpha", "bravo")}
        for method, path, body in CREW_COMMANDS:
            await _ok(a, method, path, body)
        imported = {"products": [{"id": "tea", "name": "茶", "enterprise": "汪集", "price": 12.5}]}
        await _ok(a, "POST", "/products/import", imported)  # sent as application/json
        await _ok(a, "PUT", "/rundown", {"studios": {"alpha": ["tea", "soup"]}})
        await a.drained()
        state_a, view_a = a.runner.state, await a.runner.describe()
        _, events_a = await a.api("GET", API + "/events?limit=1000")
        assert a.runner.egress is not None and a.runner.egress.recording is not None
        await a.srv.close()
        redis.stop()  # SIGTERM: Redis fsyncs its append-only file and exits
        redis.start()  # back from its own files (configs/redis.conf: AOF, fsync every second)

        b = await start_node(tmp_path, aiohttp_server, redis.url, "b")
        await b.drained()
        state_b, view_b = b.runner.state, await b.runner.describe()
        assert same_show(state_a, state_b), (state_a, state_b)
        for key in ("program", "preview", "lower_third", "logo", "layout", "panic", "transition"):
            assert view_b[key] == view_a[key], key
        # The cards too, their countdown's end included: the seconds left are counted from each
        # view's own time, so the restart's duration (seconds on a loaded box) comes off them.
        assert _without_left(view_b["cards"]) == _without_left(view_a["cards"])
        left_a, left_b = _countdowns_left(view_a["cards"]), _countdowns_left(view_b["cards"])
        assert left_a and all(a - 60 <= b <= a for a, b in zip(left_a, left_b, strict=True)), (left_a, left_b)
        assert view_b["audio"]["studios"]["alpha"]["gain_db"] == -6.5
        assert view_b["audio"]["studios"]["bravo"]["mute"] is True
        assert state_b.fallback_policy == "manual" and b.runner.program.scene.fallback_policy == "manual"
        assert [s["cue"] for s in view_b["studios"]] == [s["cue"] for s in view_a["studios"]]
        assert b.runner.program.scene.panic and b.runner.program.scene.layout == view_a["layout"]["layout"]
        # Outputs: the RTMP destinations the crew left, and the recording it started.
        assert b.runner.egress is not None
        assert sorted(b.runner.egress.rtmp) == ["cdn-a"]
        assert b.runner.egress.recording is not None
        status, rec = await b.api("GET", API + "/recording")
        assert rec["state"] != "off"
        # Join links: both old links refused, the current ones accepted.
        for studio, link in old_links.items():
            assert await b.join_status(link) != 200, studio
            current = b.tokens.mint(SHOW, studio, generation=state_b.link_gens[studio])
            assert await b.join_status(current) == 200, studio
        # Catalogue, rundown and the whole audit trail.
        _, products = await b.api("GET", API + "/products")
        assert "tea" in [p["id"] for p in (products["products"] if isinstance(products, dict) else products)]
        assert (await b.api("GET", API + "/rundown"))[1] == {"studios": {"alpha": ["tea", "soup"]}}
        _, events_b = await b.api("GET", API + "/events?limit=1000")
        assert events_b["events"][: len(events_a["events"])] == events_a["events"]
        trail = [e["kind"] for e in events_a["events"]]
        for kind in ("program.cut", "recording.started", "output.rtmp.added", "link.reissued", "program.panic"):
            assert kind in trail, kind
