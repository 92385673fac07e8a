"""Generated designs placed among real styles: nearest style, novelty, nearest real items.

A concept is a GAN sample for a condition (``category=Dress``). It is brought into item
format exactly as an ingested photo is (``pipeline.ingest.images.normalise``), embedded with the
same encoder version as the styles, and then:

* its style is the nearest style centroid;
* its novelty is its distance to the nearest real item divided by that style's spread (the
  median member-to-centroid distance): about 1 is "as different as the style's own items",
  near 0 is a near-copy;
* it is ``too_close`` when it sits closer to an existing item than real items usually sit
  to each other (below the ``TOO_CLOSE_QUANTILE`` of real nearest-neighbour distances): a
  generated design must not pass off a copy, and the report shows the item beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core import png
from pipeline.embed.neighbours import nearest

NEAREST_REAL = 3
TOO_CLOSE_QUANTILE = 0.05
REAL_NN_SAMPLE = 5000


@dataclass(frozen=True)
class RealSpace:
    """The real items a concept is compared with (one encoder version, one week's styles)."""
    vectors: np.ndarray
    item_ids: list[str]
    centroids: np.ndarray
    style_ids: list[str]
    spread: np.ndarray          # per style
    too_close_below: float      # cosine distance


def real_space(vectors: np.ndarray, item_ids: list[str], centroids: np.ndarray,
               style_ids: list[str], spread: np.ndarray, seed: int = 0) -> RealSpace:
    """Measure how close real items sit to each other (on a sample: it is a quantile)."""
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(vectors), min(REAL_NN_SAMPLE, len(vectors)), replace=False)
    if len(vectors) < 2:
        threshold = 0.0
    else:
        found = nearest(vectors[sample], vectors, 2)
        # A query's own row is its nearest neighbour at distance 0; the second is the real one.
        threshold = float(np.quantile(found.distance[:, 1], TOO_CLOSE_QUANTILE))
    return RealSpace(vectors, item_ids, centroids, style_ids, spread, threshold)


def place(generated: np.ndarray, space: RealSpace) -> pd.DataFrame:
    """One row per generated vector: style, novelty, nearest real items, too_close."""
    style = nearest(generated, space.centroids, 1)
    real = nearest(generated, space.vectors, NEAREST_REAL)
    style_index = style.index[:, 0]
    spread = np.maximum(space.spread[style_index], 1e-6)
    ids = np.asarray(space.item_ids, dtype=object)
    return pd.DataFrame({
        "style_id": np.asarray(space.style_ids, dtype=object)[style_index],
        "style_distance": style.distance[:, 0],
        "nearest_item_ids": [list(ids[row]) for row in real.index],
        "nearest_distance": real.distance[:, 0],
        "novelty": real.distance[:, 0] / spread,
        "too_close": real.distance[:, 0] < space.too_close_below,
    })


def to_item_pngs(images_uint8) -> list[bytes]:
    """Generator output (N, C, H, W) uint8 -> item-format PNGs, as an ingested photo would be."""
    from gan.images import to_pixels
    from pipeline.ingest.images import ImageLimits, normalise

    return [normalise(png.encode(pixels), ImageLimits(min_side=1)).png
            for pixels in to_pixels(images_uint8)]


def conditions_from_trends(trends: pd.DataFrame, vocabulary: dict[str, Sequence[str]],
                           top: int = 3) -> list[str]:
    """Conditions for the rising attribute values the generator knows, best first.

    With none rising, the values with the highest expected growth (a concept for the least
    bad direction is still a concept; the report says which label each has).
    """
    pairs = trends["unique_id"].str.split("=", n=1, expand=True)
    known = trends.assign(attribute=pairs[0], value=pairs[1])
    known = known[[v in vocabulary.get(a, ()) for a, v in zip(
        known["attribute"], known["value"], strict=True)]]
    rising = known[known["label"] == "rising"]
    chosen = (rising if len(rising) else known).sort_values("growth", ascending=False)
    return [f"{a}={v}" for a, v in zip(chosen["attribute"], chosen["value"], strict=True)][:top]
