"""Talkback: an operator page's microphone to one studio, a group, or all of them.

``POST /api/shows/{show}/talkback`` with the page's SDP offer (its microphone,
send-only audio) → ``201``, the answer, ``Location``; then
``POST .../talkback/{talk} {"on": true, "targets": ["alpha"] | "all"}`` while the
button is held and ``{"on": false}`` when it is let go; ``DELETE`` ends it.
Directors and producers only (the access table); an operator can only key their
own talkback. Talkback is heard in the targets' return feeds only, never on the
program (mixer/mixminus.py).
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from orchestrator.answers import TalkAndListen, TalkClosed, TalkKeyed
from orchestrator.bodies import TalkbackBody
from orchestrator.errors import BadRequest, NotFound
from orchestrator.showrunner import ShowRunner
from orchestrator.views.answer import shape
from orchestrator.views.common import answer, body, operator_name, show_runner
from orchestrator.views.signalling import offer_refusals, sdp_answer, sdp_offer
from rooms.talkbacksession import TalkbackOfferError, TalkbackSession


def _own_talk(request: web.Request) -> tuple[ShowRunner, TalkbackSession]:
    runner = show_runner(request)
    session = runner.returns.talk(request.match_info["talk"], operator_name(request))
    if session is None:
        raise NotFound("no such talkback of yours (it may have ended)")
    return runner, session


async def status(request: web.Request) -> web.Response:
    return answer(shape(TalkAndListen, show_runner(request).returns.status()))


async def post(request: web.Request) -> web.Response:
    runner = show_runner(request)
    offer = await sdp_offer(request)
    try:
        with offer_refusals():
            session = await runner.returns.open_talkback(operator_name(request), offer)
    except TalkbackOfferError as exc:
        raise BadRequest(str(exc)) from None
    return sdp_answer(runner, session.answer, f"/api/shows/{runner.show.id}/talkback/{session.id}")


async def key(request: web.Request) -> web.Response:
    data = await body(request, TalkbackBody)  # a bad body is a 400 whichever talkback it names
    runner, session = _own_talk(request)
    targets: frozenset[str] | None = None
    if isinstance(data.targets, list):
        unknown = sorted({t for t in data.targets if runner.show.studio(t) is None})
        if unknown:
            raise BadRequest(f"'targets': show {runner.show.id!r} has no studio {', '.join(map(repr, unknown))}")
        targets = frozenset(data.targets)
    talk = runner.returns.set_talk(session.id, data.on, targets)
    heard_by: list[str] | Literal["all"] = sorted(talk.targets) if talk.targets is not None else "all"
    return answer(TalkKeyed(id=session.id, operator=talk.name, on=talk.on, targets=heard_by, state=session.state))


async def delete(request: web.Request) -> web.Response:
    _, session = _own_talk(request)
    await session.close()
    return answer(TalkClosed(id=session.id, state="closed"))
