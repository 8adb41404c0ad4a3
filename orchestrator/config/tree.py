"""The whole configuration: one frozen tree of the server, its shows and the ingest."""

from __future__ import annotations

from pydantic.dataclasses import dataclass

from orchestrator.config.ingest import Ingest
from orchestrator.config.problems import STRICT
from orchestrator.config.server import Server
from orchestrator.config.show import Show
from orchestrator.fields import Text


@dataclass(frozen=True, config=STRICT)
class Config:
    """The config file as models; ``source`` names the file (with `` (+flags)`` after CLI flags)."""

    server: Server
    shows: tuple[Show, ...]
    source: Text = "<memory>"
    ingest: Ingest = Ingest()

    def show(self, show_id: str) -> Show | None:
        """The show with this id, or None."""
        return next((s for s in self.shows if s.id == show_id), None)

    def program(self, program_id: str) -> tuple[Show, str] | None:
        """The show and orientation of a program id (``{show}``: the main one; ``{show}-portrait``)."""
        for show in self.shows:
            for orientation in show.orientations:
                if show.program_id(orientation) == program_id:
                    return show, orientation
        return None
