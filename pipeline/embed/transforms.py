"""Item vectors from images: pure transforms (arrays in, arrays out; no I/O, no MLflow)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from pipeline.core import png
from pipeline.core.names import EMBEDDING_DIM
from pipeline.embed import DEFAULT_BATCH


def decode_png(data: bytes, channels: int, resolution: int) -> np.ndarray:
    """Item PNG -> uint8 (C, H, W); raises ValueError for anything undecodable or misfit."""
    pixels = png.decode(data, channels)
    if pixels.shape[:2] != (resolution, resolution):
        raise ValueError(f"image is {pixels.shape[1]}x{pixels.shape[0]}, "
                         f"encoder expects {resolution}x{resolution}")
    return pixels.transpose(2, 0, 1)


def embed_images(encoder, images: np.ndarray, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
    """uint8 (N, C, H, W) -> float32 (N, 128), batched inference without gradients."""
    import torch

    if len(images) == 0:
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    return encoder.embed(torch.from_numpy(images), batch_size).numpy().astype(np.float32)


def vectors_of(table: pa.Table) -> np.ndarray:
    """The ``vector`` column as a float32 (N, 128) array, without a Python loop."""
    column = table.column("vector").combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), -1)
