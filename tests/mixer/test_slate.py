"""The slate fits its canvas: landscape and portrait, long Chinese and English titles."""

from __future__ import annotations

import numpy as np
import pytest

from mixer.planes import packed_planes
from mixer.slate import render_slate

TITLE = "武汉 5·10 公益直播带货 Wuhan May 10 Charity Live Commerce"
TEXT = "Back soon · 马上回来 · the program resumes in a moment"


def _ink_columns(width: int, height: int, title: str, text: str) -> np.ndarray:
    """Columns holding text (luma far from the field), the red band's rows left out."""
    y = packed_planes(render_slate(width, height, title, text))[0].astype(int)
    field = int(np.median(y[:, : width // 50]))  # the dark blue field at the left edge
    rows = np.r_[0 : int(height * 0.60), int(height * 0.66) : height]
    ink = np.abs(y[rows] - field) > 24
    return np.flatnonzero(ink.any(axis=0))


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (720, 1280), (360, 640)])
def test_slate_text_keeps_clear_of_the_left_and_right_edges(width: int, height: int) -> None:
    columns = _ink_columns(width, height, TITLE, TEXT)
    assert columns.size, "nothing drawn"
    edge = int(width * 0.03)
    # Before: at 720x1280 the title was drawn at 106 px and ran off both edges.
    assert columns.min() >= edge and columns.max() < width - edge, (columns.min(), columns.max())
    # Centred: about as far from either edge.
    assert abs(columns.min() - (width - 1 - columns.max())) < width * 0.1


def test_a_short_title_keeps_its_size_on_a_portrait_slate() -> None:
    """Sizes follow the short side: a short title is as wide on 720x1280 as on 1280x720."""
    land = _ink_columns(1280, 720, "Wuhan", "")
    port = _ink_columns(720, 1280, "Wuhan", "")
    assert abs((land.max() - land.min()) - (port.max() - port.min())) <= 4
