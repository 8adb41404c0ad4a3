"""The operator API's answers, as models: the OpenAPI document's response schemas come from here.

Every JSON view answers through its model (``views.common.answer``: validated, then serialised
from the model), the document (:mod:`orchestrator.openapi`) takes every answer's schema from
these models, and the tests check the live server's answers against it (the route-table walk in
tests/orchestrator/test_answers.py and schemathesis' response conformance), so an answer that
drifts from its model fails the suite. Fields without a default are always sent; ``X | None =
None`` fields may be absent or null. Units: prices in yuan, times in Unix seconds (``_at``,
``_until``), durations in the unit their name ends with (``_s``, ``_ms``).

One module per concept; every name is re-exported here (``from orchestrator.answers import
Show``). Request bodies are in :mod:`orchestrator.bodies`; the stored state and audit events are
the store's dataclasses (:class:`~orchestrator.store.ShowState`, :class:`~orchestrator.store.Event`).
"""

from __future__ import annotations

from orchestrator.answers.base import Answer, Error, LiveField, Object, Slot
from orchestrator.answers.catalogue import (
    Card,
    CardAnswer,
    Graphics,
    Imported,
    LowerThird,
    Product,
    ProductAnswer,
    ProductList,
    Rundown,
)
from orchestrator.answers.mixer import Audio, Layout, Mixer, StudioAudio, Transition
from orchestrator.answers.outputs import (
    DelayChanged,
    DestinationList,
    Dumped,
    OutputList,
    Outputs,
    OutputSet,
    OutputStatus,
    ProgramOutputs,
    ProgramsChanged,
    Recording,
    Removed,
    RtmpDestination,
)
from orchestrator.answers.session import Cluster, Health, Moving, OpenApiDocument, Operator, SignedOut
from orchestrator.answers.show import (
    Alarm,
    AlarmList,
    Crew,
    EventList,
    Show,
    ShowList,
    ShowSummary,
    SoloEncode,
    StudioView,
)
from orchestrator.answers.studios import CueAnswer, JoinLink, Kicked, LinkList
from orchestrator.answers.talk import TalkAndListen, TalkClosed, Talking, TalkKeyed, TalkTargets

__all__ = [
    "Alarm",
    "AlarmList",
    "Answer",
    "Audio",
    "Card",
    "CardAnswer",
    "Cluster",
    "Crew",
    "CueAnswer",
    "DelayChanged",
    "DestinationList",
    "Dumped",
    "Error",
    "EventList",
    "Graphics",
    "Health",
    "Imported",
    "JoinLink",
    "Kicked",
    "Layout",
    "LinkList",
    "LiveField",
    "LowerThird",
    "Mixer",
    "Moving",
    "Object",
    "OpenApiDocument",
    "Operator",
    "OutputList",
    "OutputSet",
    "OutputStatus",
    "Outputs",
    "ProgramOutputs",
    "ProgramsChanged",
    "Product",
    "ProductAnswer",
    "ProductList",
    "Recording",
    "Removed",
    "RtmpDestination",
    "Rundown",
    "Show",
    "ShowList",
    "ShowSummary",
    "SignedOut",
    "Slot",
    "SoloEncode",
    "StudioAudio",
    "StudioView",
    "TalkAndListen",
    "TalkClosed",
    "TalkKeyed",
    "TalkTargets",
    "Talking",
    "Transition",
]
