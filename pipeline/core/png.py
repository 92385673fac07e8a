"""The one PNG codec: stored items, simulated photos, concepts and sample grids alike.

zlib's RLE strategy suits these images (flat backdrops around one garment): it encodes
faster than the default strategy at about the same size (benchmarks/results/png.md).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

COMPRESS_LEVEL = 3
ZLIB_RLE = 3


def encode(image: Image.Image | np.ndarray) -> bytes:
    """A Pillow image, or uint8 pixels (H, W), (H, W, 1) or (H, W, 3), as PNG bytes."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1
                                else image)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=COMPRESS_LEVEL, compress_type=ZLIB_RLE)
    return out.getvalue()


def decode(data: bytes, channels: int = 3) -> np.ndarray:
    """PNG (or any Pillow format) bytes -> writable uint8 (H, W, channels); ValueError when
    the bytes do not decode."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            pixels = np.array(image.convert("L" if channels == 1 else "RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"cannot decode stored image: {err}") from None
    return pixels[..., None] if channels == 1 else pixels
