"""Every crew command with the Redis connection cut at each of its Redis commands in turn
(before Redis sees it, and after Redis ran it but before its answer), through the
fault-injecting proxy. After each try the contract is checked:

- 2xx: stored (the version went up), this node's state equals the stored one, its events written;
- 503: nothing stored, nothing on air changed, no event; or, when Redis ran the write but
  could not be asked afterwards, a 503 that says so, and once Redis is back the node has
  found out: stored means on air and its events written;
- and always: the audit trail in Redis is exactly what the node wrote, in order (none lost, none doubled).

The figures it prints are the ones in docs/RELIABILITY.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.auditevents import commands, kinds
from tests.orchestrator.faultnode import SHOW, Stored, start_node
from tests.redisserver import RedisServer
from tests.tcpfault import FaultProxy

API = f"/api/shows/{SHOW}"
MAX_POSITION = 14  # no command takes more Redis commands than this (a commit is 7, an event 1-3)

Body = Callable[[int], Any]
# (method, path, body for try i, the event kind a 2xx must have written or None)
SWEEP: list[tuple[str, str, Body, str | None]] = [
    ("POST", "/cut", lambda i: {"studio": ("alpha", "bravo")[i % 2]}, "program.cut"),
    ("POST", "/preview", lambda i: {"studio": ("bravo", "alpha")[i % 2]}, "preview.set"),
    ("POST", "/take", lambda i: {"transition": "cut"}, "program.take"),
    ("POST", "/layout", lambda i: {"layout": "pip", "studios": ["alpha", "bravo"][:: 1 - 2 * (i % 2)]}, None),
    ("POST", "/panic", lambda i: {"on": i % 2 == 0}, "program.panic"),
    # A countdown that outlasts the sweep: one ending mid-sweep hides the card (a system write)
    # between a refused command's before and after.
    ("POST", "/cards", lambda i: {"product": "soup", "countdown_s": 3600 + i}, "card.shown"),
    ("PATCH", "/products/soup", lambda i: {"stock": i}, "product.updated"),
    ("POST", "/lower-third", lambda i: {"studio": "alpha", "text": f"take {i}"}, "lower_third.shown"),
    ("POST", "/logo", lambda i: {"on": i % 2 == 0}, None),
    ("POST", "/audio/alpha", lambda i: {"gain_db": -(i % 12)}, "audio.set"),
    ("POST", "/studios/bravo/cue", lambda i: {"product": "soup", "message": f"cue {i}"}, "cue.set"),
    ("POST", "/outputs/rtmp", lambda i: {"name": f"cdn{i}", "url": f"rtmp://127.0.0.1:9/live/k{i}"}, None),
    ("POST", "/recording", lambda i: {"on": i % 2 == 0}, None),
    ("POST", "/studios/alpha/reissue", lambda i: None, "link.reissued"),
]


@pytest.mark.parametrize("then", ["pass", "refuse"])
async def test_a_cut_at_any_redis_command_of_any_crew_command_keeps_the_contract(
    tmp_path: Path, aiohttp_server: Any, redis: RedisServer, then: str
) -> None:
    """``then``: after the cut Redis answers again at once ("pass"), or stays away until the
    command has answered (an outage: "refuse")."""
    figures = {
        "commands tried": 0,
        "cuts": 0,
        "happened (2xx)": 0,
        "refused (503)": 0,
        "unknown (503 saying so)": 0,
        "states checked": 0,
    }
    lost = doubled = 0
    with FaultProxy(redis.port) as proxy:
        node = await start_node(tmp_path, aiohttp_server, proxy.url, "n")
        stored = Stored(redis.url)
        try:
            assert (await node.api("POST", API + "/preview", json={"studio": "bravo"}))[0] == 200
            i = 0
            for method, path, body, kind in SWEEP:
                for forward in (False, True):
                    for position in range(1, MAX_POSITION + 1):
                        i += 1
                        before, mine_before = await node.stored_and_own_state(stored)
                        assert mine_before == before
                        written = len(node.runner.outbox.written)
                        proxy.cut_after(position, forward=forward, then=then)
                        status, answer = await node.api(method, API + path, json=body(i))
                        fired = proxy.disarm()
                        proxy.heal()
                        after, mine_after = await node.stored_and_own_state(stored)
                        # Commands only: the RTMP destinations added point nowhere (their output.down
                        # events come and go), and alarms come at any time.
                        new = kinds(commands(list(node.runner.outbox.written)[written:]))
                        figures["commands tried"] += 1
                        figures["cuts"] += fired
                        if status in (200, 201):
                            figures["happened (2xx)"] += 1
                            assert after.version > before.version, (path, position, forward)
                            assert kind is None or kind in new, (path, position, forward, new)
                        elif status == 503 and "may or may not" in answer["error"]:
                            # EXEC sent, its answer lost, Redis unreachable: the answer says so, and
                            # once Redis is back the node has found out (stored: on air and recorded).
                            figures["unknown (503 saying so)"] += 1
                            if after.version > before.version:
                                assert kind is None or kind in new, (path, position, forward, new)
                            else:
                                assert after == before and new == [], (path, position, forward)
                        else:
                            assert status == 503, (path, position, forward, status, answer)
                            figures["refused (503)"] += 1
                            assert after == before, (path, position, forward)
                            assert new == [], (path, position, forward, new)
                        assert mine_after == after, (path, position, forward)
                        figures["states checked"] += 1
                        events, mine = await node.stored_and_written(stored)
                        lost += sum(1 for e in mine if e not in events)
                        doubled += len(events) - len({(e.kind, e.at, str(e.detail)) for e in events})
                        assert events == mine, (path, position, forward)
                        if not fired:
                            break  # the command needed fewer Redis commands than `position`
        finally:
            await stored.close()
    print(f"\nfault sweep ({then}): {figures}, events written: {len(mine)}, lost: {lost}, doubled: {doubled}")
    assert figures["cuts"] >= 100 and figures["refused (503)"] > 0 and figures["happened (2xx)"] > 0
    assert lost == 0 and doubled == 0
