"""Sample grids and PNG files from image tensors (Pillow; no torchvision dependency)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pipeline.core import png


def to_pixels(images: torch.Tensor) -> np.ndarray:
    """uint8 (N, C, H, W) tensor -> uint8 (N, H, W, C) array, the layout images are saved in."""
    return images.permute(0, 2, 3, 1).cpu().numpy()


def grid(images: torch.Tensor, columns: int | None = None, pad: int = 2) -> Image.Image:
    """uint8 (N, C, H, W) -> one image with the samples in rows of ``columns``."""
    n, c, h, w = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    canvas = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, np.uint8)
    pixels = to_pixels(images)
    for i in range(n):
        r, col = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        canvas[top:top + h, left:left + w] = pixels[i]
    return Image.fromarray(canvas[..., 0] if c == 1 else canvas)


def write_pngs(images: torch.Tensor, folder: Path, prefix: str = "sample",
               made_by: str | None = None) -> list[Path]:
    """One PNG per image; ``made_by`` (the generator's URI) marks each as generated."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, pixels in enumerate(to_pixels(images)):
        path = folder / f"{prefix}-{i:04d}.png"
        data = png.encode(pixels)
        path.write_bytes(png.label_generated(data, made_by, path.stem) if made_by else data)
        paths.append(path)
    return paths
