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

What to draw comes from the week's trend calls (``targets``): for each rising style, one
condition made of its dominant values *together* (``category=Sneaker,colour=red``), and for
each rising attribute value, that value alone. Each concept then records the style it
lands in and that style's trend call; one landing in a declining style is ``off_trend``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core import png
from pipeline.core.names import STYLE_KIND
from pipeline.embed.neighbours import nearest

# Lower than the half that names a style (styles.transforms.DOMINANT_SHARE): a style of
# red shoes that are 45% sneakers, the rest boots and sandals, left without a category drew
# red tops, the catalogue's own mix for "red". Its most common value, held by a third or
# more, is nearer.
CONDITION_SHARE = 1 / 3

NEAREST_REAL = 3
TOO_CLOSE_QUANTILE = 0.05
# Queries for that quantile: ~100 of them fall below it, enough for a flag threshold, and
# the search against the whole window stays a small part of the step at 1M items.
REAL_NN_SAMPLE = 2000


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


@dataclass(frozen=True)
class Target:
    """A trend a concept is drawn for (``style=S0003`` or ``colour=red``) and the condition."""
    unique_id: str
    condition: str


def _trend_rows(trends: pd.DataFrame) -> pd.DataFrame:
    pairs = trends["unique_id"].str.split("=", n=1, expand=True)
    return trends.assign(attribute=pairs[0], value=pairs[1])


def _rising_first(frame: pd.DataFrame) -> pd.DataFrame:
    """Rising rows by growth; with none rising, all rows by growth (the least bad
    direction still gets concepts, and the report says which label each has)."""
    rising = frame[frame["label"] == "rising"]
    return (rising if len(rising) else frame).sort_values("growth", ascending=False)


def style_condition(dominant: Mapping[str, Sequence], vocabulary: Mapping[str, Sequence[str]]
                    ) -> str | None:
    """A style's most common values (each held by at least ``CONDITION_SHARE`` of its
    items) that the generator knows, as one condition; None when there is none. An
    attribute the style is too mixed in is left unknown."""
    parts = [f"{name}={dominant[name][0]}" for name in vocabulary
             if name in dominant and str(dominant[name][0]) in vocabulary[name]
             and float(dominant[name][1]) >= CONDITION_SHARE]
    return ",".join(parts) or None


def targets_from_trends(trends: pd.DataFrame, vocabulary: Mapping[str, Sequence[str]],
                        dominant: Mapping[str, Mapping[str, Sequence]] | None = None,
                        top_styles: int = 3, top_values: int = 2) -> list[Target]:
    """Rising styles (conditioned on their dominant values together) and rising attribute
    values the generator knows, best first. ``dominant``: style id -> attribute -> (value,
    share), as the styles step stores it."""
    rows = _trend_rows(trends)
    found: list[Target] = []
    styles = _rising_first(rows[rows["attribute"] == STYLE_KIND])
    for uid, style in zip(styles["unique_id"], styles["value"], strict=True):
        condition = style_condition((dominant or {}).get(style, {}), vocabulary)
        if condition and len(found) < top_styles:
            found.append(Target(uid, condition))
    values = rows[[v in vocabulary.get(a, ()) for a, v in zip(
        rows["attribute"], rows["value"], strict=True)]]
    found += [Target(f"{a}={v}", f"{a}={v}") for a, v in zip(
        _rising_first(values)["attribute"], _rising_first(values)["value"],
        strict=True)][:top_values]
    return found


def conditions_from_trends(trends: pd.DataFrame, vocabulary: Mapping[str, Sequence[str]],
                           top: int = 3) -> list[str]:
    """Conditions for the rising attribute values the generator knows, best first."""
    return [t.condition for t in targets_from_trends(trends, vocabulary, top_styles=0,
                                                       top_values=top)]


def trend_calls(trends: pd.DataFrame | None) -> dict[str, str]:
    """Style id -> its trend label (rising | stable | declining)."""
    if trends is None or trends.empty:
        return {}
    rows = _trend_rows(trends)
    rows = rows[rows["attribute"] == STYLE_KIND]
    return dict(zip(rows["value"], rows["label"], strict=True))
