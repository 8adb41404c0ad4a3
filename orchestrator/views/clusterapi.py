"""The cluster through the API: the nodes, who runs which show, and a planned move."""

from __future__ import annotations

from aiohttp import web

from orchestrator.answers import Cluster, Moving
from orchestrator.appkeys import CLUSTER
from orchestrator.bodies import MoveBody
from orchestrator.errors import BadRequest, Conflict
from orchestrator.store import Event
from orchestrator.views.answer import shape
from orchestrator.views.common import answer, body, operator_name, show_runner


async def cluster(request: web.Request) -> web.Response:
    operator_name(request)
    node = request.app.get(CLUSTER)
    if node is None:
        return answer(Cluster(node=None, nodes=[], owners={}))
    return answer(shape(Cluster, node.view()))


async def move(request: web.Request) -> web.Response:
    """Ask the node running the show to hand it to ``{"node": id}``: that node prepares the show, then
    this one stops its outputs and hands the lease over (orchestrator/cluster.py)."""
    actor = operator_name(request)
    runner = show_runner(request)  # this node runs it (others redirect here first)
    target = (await body(request, MoveBody)).node
    node = request.app.get(CLUSTER)
    if node is None:
        raise Conflict("not a cluster: every node runs every show (server.cluster)")
    if target not in node.nodes:
        raise BadRequest(f"node must be one of {sorted(node.nodes)}")
    if target == node.node:
        raise Conflict(f"show {runner.show.id!r} already runs on {target!r}")
    await node.leases.request_move(runner.show.id, target)
    await node.store.add_event(
        Event("cluster.move_requested", runner.show.id, actor, {"from": node.node, "to": target})
    )
    return answer(shape(Moving, {"show": runner.show.id, "from": node.node, "to": target}), status=202)
