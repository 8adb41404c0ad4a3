"""What the control plane asks of the program clock: one immutable Scene.

The control plane builds a new Scene from the show state after every command
and swaps it in whole; the clock thread reads it once per tick. Everything the
clock needs to decide what goes on air is here, so no lock is ever shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LAYOUTS = ("single", "pip", "side-by-side")
LAYOUT_STUDIOS = {"single": 1, "pip": 2, "side-by-side": 2}  # studios each layout shows
TRANSITIONS = ("cut", "fade", "wipe", "slide")
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
FIT_MODES = ("fit", "crop", "blur")
MAX_TRANSITION_MS = 5000
GAIN_DB_MIN, GAIN_DB_MAX = -60.0, 12.0


@dataclass(frozen=True)
class Bus:
    """One picture: a layout of studios (main first). No studios means the slate."""

    layout: str = "single"
    studios: tuple[str, ...] = ()
    corner: str = "bottom-right"

    @property
    def main(self) -> str | None:
        return self.studios[0] if self.studios else None

    @property
    def is_slate(self) -> bool:
        return not self.studios


SLATE = Bus()
BLACK = Bus(layout="black")  # fade to black: a black picture and silence


@dataclass(frozen=True)
class Scene:
    """What the control plane wants on air; replaced whole, never mutated."""

    program: str | None = None  # the main studio of the program bus
    preview: str | None = None
    layout: str = "single"
    layout_studios: tuple[str, ...] = ()  # the other studios of the layout (pip inset, second half)
    corner: str = "bottom-right"
    panic: bool = False
    # The preview bus (built there, then taken): preview is its main studio.
    preview_layout: str = "single"
    preview_studios: tuple[str, ...] = ()
    preview_corner: str = "bottom-right"
    ftb: bool = False  # faded to black (taking it with a fade runs the fade)
    tbar: float = 0.0  # a manual transition in progress: 0-1 of the way from program to preview
    # A take/cut increments take_seq; the clock runs `transition` when it sees a new one.
    take_seq: int = 0
    transition: str = "cut"
    transition_ms: int = 0
    gains_db: dict[str, float] = field(default_factory=dict)
    muted: frozenset[str] = frozenset()
    # Show settings (from the config).
    stale_after: float = 1.0  # seconds without a new frame before the program falls back
    backup: str | None = None  # shown instead of a failed program studio, if it is live
    fallback_policy: str = "auto"  # "auto" or "manual" (mixer/fallback.py)
    return_after: float = 2.0  # auto: seconds of steady delivery before the studio returns
    fit: str = "fit"
    fill_rgb: tuple[int, int, int] = (0, 0, 0)
    av_sync_ms: int = 50  # how much later a studio's audio reaches us than its video

    def program_bus(self) -> Bus:
        if self.program is None:
            return SLATE
        return Bus(self.layout, (self.program, *self.layout_studios), self.corner)

    def preview_bus(self) -> Bus:
        if self.preview is None:
            return SLATE
        return Bus(self.preview_layout, (self.preview, *self.preview_studios), self.preview_corner)
