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
            # index 2 of the Noto .ttc is Simplified Chinese.
            return ImageFont.truetype(path, size, index=2 if path.endswith("CJK-Bold.ttc") else 0)
    raise FontMissing("no CJK font found: install fonts-noto-cjk (scripts/setup.sh does)")
