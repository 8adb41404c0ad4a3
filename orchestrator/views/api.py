"""The operator's JSON API. Thin: parse, authorise, call the show, answer."""

from __future__ import annotations

from aiohttp import web

from orchestrator.answers import EventList, JoinLink, LinkList, Show, ShowList, ShowSummary
from orchestrator.appkeys import CONFIG, RTMP_INGEST, STORE
from orchestrator.auth import operator
from orchestrator.bodies import EventsQuery, ProgramBody
from orchestrator.links import join_links
from orchestrator.showrunner import ShowRunner
from orchestrator.views.answer import shape
from orchestrator.views.common import answer, body, operator_name, query, scene_view, show_runner


async def list_shows(request: web.Request) -> web.Response:
    actor = operator(request)  # an operator scoped to some shows sees only those
    # Every show of the config: in a cluster the others run elsewhere (their paths redirect there).
    shows = [ShowSummary(id=s.id, title=s.title) for s in request.app[CONFIG].shows if actor.sees(s.id)]
    return answer(ShowList(shows=shows))


async def get_show(request: web.Request) -> web.Response:
    operator_name(request)
    return answer(shape(Show, await show_runner(request).describe()))


async def cut(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    state = await runner.cut((await body(request, ProgramBody)).studio, actor)
    return scene_view(runner, state)


async def preview(request: web.Request) -> web.Response:
    actor = operator_name(request)
    runner = show_runner(request)
    state = await runner.set_preview((await body(request, ProgramBody)).studio, actor)
    return scene_view(runner, state)


async def events(request: web.Request) -> web.Response:
    operator_name(request)
    runner = show_runner(request)
    limit = query(request, EventsQuery).limit
    found = await request.app[STORE].events(runner.show.id, limit)
    return answer(EventList(events=found))


async def links(request: web.Request) -> web.Response:
    operator_name(request)
    runner = show_runner(request)
    return answer(LinkList(links=show_links(request, runner)))


def show_links(request: web.Request, runner: ShowRunner) -> list[JoinLink]:
    """The show's current join links, as seen from the address the operator used."""
    base = f"{request.scheme}://{request.host}"
    gens = {runner.show.id: dict(runner.state.link_gens)}
    ingest = request.app.get(RTMP_INGEST)
    links = join_links(request.app[CONFIG], base, gens, ingest.port if ingest is not None else None)
    return [shape(JoinLink, link) for link in links if link["show"] == runner.show.id]
