"""Decode, validate and normalise one image. Pure: bytes in, PNG bytes out (or a rejection).

Normalised images are RGB squares of a fixed size; the aspect ratio is kept by padding
with the image's own border colour (catalogue shots sit on white, runway shots do not), so
the pad never introduces a frame a model could learn.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.core import png as png_codec

DEFAULT_SIZE = 64
DEFAULT_MIN_SIDE = 16
DEFAULT_MAX_PIXELS = 64_000_000  # a 8000x8000 photo; anything larger is treated as a bomb
# Magic numbers of the formats Pillow reads: a broken file that starts with one is truncated.
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"RIFF", b"BM", b"II*\x00", b"MM\x00*")


class ImageRejected(Exception):
    """A single image is unusable; ``reason`` is a stable code for the quarantine."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message)  # both in args, so it survives pickling to the pool
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


class NormalisedImage(NamedTuple):  # a tuple: cheap to pickle back from the decode pool
    png: bytes
    sha256: str  # of the original file bytes: identical uploads are identical content
    width: int  # original size
    height: int


@dataclass(frozen=True)
class ImageLimits:
    size: int = DEFAULT_SIZE
    min_side: int = DEFAULT_MIN_SIDE
    max_pixels: int = DEFAULT_MAX_PIXELS


def normalise(raw: bytes, limits: ImageLimits) -> NormalisedImage:
    if not raw:
        raise ImageRejected("empty_file", "file has zero bytes")
    digest = hashlib.sha256(raw).hexdigest()
    with warnings.catch_warnings():
        # Our own pixel limit applies; Pillow's warning/error are mapped to the same reason.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(raw))
        except UnidentifiedImageError:
            raise ImageRejected("not_an_image", "not a recognised image format") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise ImageRejected("decompression_bomb", str(err)) from None
        except (OSError, SyntaxError, ValueError) as err:
            # Pillow knew the format but the header broke off: a truncated upload.
            reason = "truncated_image" if raw.startswith(SIGNATURES) else "not_an_image"
            raise ImageRejected(reason, f"cannot open: {err}") from None
        width, height = image.size
        if width * height > limits.max_pixels:
            raise ImageRejected(
                "decompression_bomb",
                f"{width}x{height} = {width * height} pixels exceeds the limit of "
                f"{limits.max_pixels}",
            )
        if min(width, height) < limits.min_side:
            raise ImageRejected(
                "image_too_small",
                f"{width}x{height} is below the minimum side of {limits.min_side} px",
            )
        try:
            if image.format == "JPEG":
                # Let the JPEG decoder downscale by 1/2..1/8 in the DCT: big photos decode fast.
                image.draft("RGB", (limits.size * 2, limits.size * 2))
            if image.format == "PNG":
                # Pillow decodes a PNG whose tail is cut off; verify() walks every chunk.
                image.verify()
                image = Image.open(io.BytesIO(raw))
            image.load()
        except (OSError, SyntaxError, ValueError) as err:
            raise ImageRejected("truncated_image", f"cannot decode: {err}") from None
    png = png_codec.encode(_fit_square(_to_rgb(ImageOps.exif_transpose(image)), limits.size))
    return NormalisedImage(png=png, sha256=digest, width=width, height=height)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits rather than clip.
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() or 1.0
        return Image.fromarray((array * 255.0 / peak).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def _border_colour(image: Image.Image) -> tuple[int, int, int]:
    """Per-channel median of the four corners: the backdrop, robust to one odd corner."""
    w, h = image.size
    corners = [image.getpixel(xy) for xy in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1))]
    middle_two = (sorted(channel)[1:3] for channel in zip(*corners, strict=True))
    return tuple((a + b) // 2 for a, b in middle_two)  # type: ignore[return-value]


def _fit_square(image: Image.Image, size: int) -> Image.Image:
    # Pillow's bicubic is antialiased when shrinking; Lanczos looked no different at 64 px
    # and cost 50% more.
    if image.size == (size, size):
        return image
    return ImageOps.pad(image, (size, size), method=Image.Resampling.BICUBIC,
                        color=_border_colour(image))

