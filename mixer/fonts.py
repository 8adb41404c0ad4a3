"""Find a font that draws Chinese; the setup script installs Noto CJK."""

from __future__ import annotations

import functools
from pathlib import Path

from PIL import ImageFont

CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


class FontMissing(RuntimeError):
    pass


@functools.lru_cache(maxsize=32)
def cjk_font(size: int) -> ImageFont.FreeTypeFont:
    for path in CJK_FONTS:
        if Path(path).exists():
            # Face 2 of the Noto Sans CJK collections is the Simplified Chinese cut.
            return ImageFont.truetype(path, size, index=2 if "NotoSansCJK" in path else 0)
    raise FontMissing("no CJK font found: install fonts-noto-cjk (scripts/setup.sh does)")
