"""Exact nearest neighbours under cosine distance, in blocks so memory stays bounded.

Exact search is a matrix product: 1,000 queries against 200,000 128-d vectors takes well
under a second on two cores (benchmarks/embed.py measures it), and the weekly report asks
a few thousand queries at most. An approximate index (faiss) pays off only around tens of
millions of vectors, a scale the benchmark shows we are far from, so none is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

BLOCK_ELEMENTS = 2**25  # similarities held at once (128 MiB of float32), whatever the sizes


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


@dataclass(frozen=True)
class Neighbours:
    index: np.ndarray     # (n_queries, k) rows of the base set, nearest first
    distance: np.ndarray  # (n_queries, k) cosine distance, 1 - cos


def nearest(queries: np.ndarray, base: np.ndarray, k: int = 1,
            exclude_self: bool = False) -> Neighbours:
    """The ``k`` nearest base rows of every query row, by cosine distance.

    ``exclude_self`` is for querying a set against itself: row i never finds row i.
    """
    if len(base) == 0:
        raise ValueError("nearest neighbours of an empty base set")
    k = min(k, len(base) - (1 if exclude_self else 0))
    q = torch.from_numpy(unit_rows(queries))
    b = torch.from_numpy(unit_rows(base))
    best_sim = torch.full((len(q), k), -torch.inf)
    best_idx = torch.zeros((len(q), k), dtype=torch.long)
    block_rows = max(1, BLOCK_ELEMENTS // max(1, len(q)))
    for start in range(0, len(b), block_rows):
        sim = q @ b[start:start + block_rows].T
        if exclude_self:
            rows = torch.arange(len(q))
            in_block = (rows >= start) & (rows < start + sim.shape[1])
            sim[rows[in_block], rows[in_block] - start] = -torch.inf
        top_sim, top_idx = sim.topk(min(k, sim.shape[1]), dim=1)
        merged_sim = torch.cat([best_sim, top_sim], dim=1)
        merged_idx = torch.cat([best_idx, top_idx + start], dim=1)
        best_sim, order = merged_sim.topk(k, dim=1)
        best_idx = merged_idx.gather(1, order)
    distance = (1.0 - best_sim).clamp_min(0.0).numpy()
    return Neighbours(best_idx.numpy(), distance)
