"""QR codes for buy links, drawn as crisp black modules on white."""

from __future__ import annotations

import functools

import numpy as np
import qrcode
import qrcode.constants
from PIL import Image

QUIET_MODULES = 2  # the standard asks for 4; the card's white panel around it adds the rest


@functools.lru_cache(maxsize=64)
def qr_matrix(data: str) -> np.ndarray:
    """The QR symbol's modules (True = dark), without quiet zone. Level M: survives some blur."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(data)
    code.make(fit=True)
    return np.array(code.get_matrix(), dtype=bool)


def qr_image(data: str, max_size: int) -> Image.Image:
    """An RGB QR image at most ``max_size`` pixels square, with whole pixels per module.

    Whole pixels keep module edges sharp (a phone scans a blurred half-pixel edge badly);
    the image is therefore usually a little smaller than ``max_size``.
    """
    modules = qr_matrix(data)
    n = modules.shape[0] + 2 * QUIET_MODULES
    scale = max(1, max_size // n)
    grid = np.ones((n, n), dtype=bool)
    grid[QUIET_MODULES : n - QUIET_MODULES, QUIET_MODULES : n - QUIET_MODULES] = ~modules
    pixels = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    return Image.fromarray(np.where(pixels, 255, 0).astype(np.uint8), "L").convert("RGB")
