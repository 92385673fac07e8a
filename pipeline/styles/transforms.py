"""Styles: clusters of item embeddings whose IDs survive from week to week. Pure transforms.

Algorithm (what ``stylecast styles`` runs over a rolling window of weeks):

1. Vectors are L2-normalised, so k-means' squared Euclidean distance is a monotone function
   of cosine distance (the encoder's features are compared by angle, not length).
2. The number of styles k comes from silhouette scores on a sample of at most
   ``SILHOUETTE_SAMPLE`` vectors: every candidate within ``K_TOLERANCE`` of the best score
   is acceptable; last week's k is kept when acceptable (so the count does not flicker on
   noise), else the largest acceptable k (silhouette favours coarse splits, and an analyst
   wants "red sneakers", not "footwear", when both fit the data equally well).
3. k-means (scikit-learn) on a sample of at most ``CLUSTER_SAMPLE`` vectors, seeded with
   last week's centroids when k is unchanged, which keeps clusters where they were; then
   every vector joins its nearest centroid by cosine. ≤24 centroids in 128 dimensions are
   estimated as well from 20k vectors as from all, and the week's cost stops growing with
   the window's size (benchmarks/results/weekly_scale.md).
4. IDs: new centroids are matched one-to-one to last week's by the Hungarian algorithm on
   cosine distance (scipy's ``linear_sum_assignment``). A pair further apart than half the
   typical gap between last week's centroids is not a match: the new centroid is a new style
   with a new ID, and unmatched old styles retire. IDs are never reused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.embed.neighbours import nearest, unit_rows
from pipeline.embed.transforms import vectors_of

SILHOUETTE_SAMPLE = 4000
K_TOLERANCE = 0.02
CLUSTER_SAMPLE = 20_000
DOMINANT_SHARE = 0.5       # a value describes a style when at least half its items have it
DESCRIPTION_PARTS = 3
MAX_DESCRIBING_VALUES = 200  # attributes with more distinct values are names, not styles


@dataclass(frozen=True)
class Clustering:
    centroids: np.ndarray   # (k, d) unit rows
    labels: np.ndarray      # (n,) cluster index per vector
    k: int
    silhouette: dict[int, float]  # candidate k -> score


def choose_k(vectors: np.ndarray, candidates: Sequence[int], previous_k: int | None = None,
             seed: int = 0) -> tuple[int, dict[int, float]]:
    """k among ``candidates`` by silhouette (see the module notes), and every score."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    sample = vectors if len(vectors) <= SILHOUETTE_SAMPLE else vectors[
        rng.choice(len(vectors), SILHOUETTE_SAMPLE, replace=False)]
    usable = [k for k in candidates if 2 <= k < len(sample)]
    if not usable:
        return max(1, min(len(vectors), min(candidates))), {}
    scores = {}
    for k in usable:
        labels = KMeans(k, n_init=2, random_state=seed).fit_predict(sample)
        scores[k] = float(silhouette_score(sample, labels)) if len(set(labels)) > 1 else -1.0
    best = max(scores.values())
    acceptable = [k for k, score in scores.items() if score >= best - K_TOLERANCE]
    return (previous_k if previous_k in acceptable else max(acceptable)), scores


def cluster(vectors: np.ndarray, k: int, init: np.ndarray | None = None,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(unit centroids, each vector's nearest of them) of k-means on unit vectors, fitted
    on at most ``CLUSTER_SAMPLE`` of them."""
    from sklearn.cluster import KMeans

    k = min(k, len(vectors))
    start = init if init is not None and len(init) == k else "k-means++"
    n_init = 1 if init is not None and len(init) == k else 3
    sample = vectors if len(vectors) <= CLUSTER_SAMPLE else vectors[np.sort(
        np.random.default_rng(seed).choice(len(vectors), CLUSTER_SAMPLE, replace=False))]
    model = KMeans(k, init=start, n_init=n_init, random_state=seed).fit(sample)
    centroids = unit_rows(model.cluster_centers_)
    return centroids, assign(vectors, centroids)[0]


def discover(vectors: np.ndarray, candidates: Sequence[int], previous: np.ndarray | None = None,
             fixed_k: int | None = None, seed: int = 0) -> Clustering:
    unit = unit_rows(vectors)
    previous_k = None if previous is None else len(previous)
    if fixed_k:
        k, scores = fixed_k, {}
    else:
        k, scores = choose_k(unit, candidates, previous_k, seed)
    centroids, labels = cluster(unit, k, previous, seed)
    return Clustering(centroids, labels, len(centroids), scores)


def match_ids(centroids: np.ndarray, previous: np.ndarray, previous_ids: Sequence[str],
              next_number: int) -> tuple[list[str], list[str], int]:
    """(an ID per new centroid, retired previous IDs, the next unused number)."""
    from scipy.optimize import linear_sum_assignment

    ids: list[str | None] = [None] * len(centroids)
    if len(previous):
        cost = 1.0 - unit_rows(centroids) @ unit_rows(previous).T
        rows, cols = linear_sum_assignment(cost)
        limit = 0.5 * typical_gap(previous)
        for r, c in zip(rows, cols, strict=True):
            if cost[r, c] <= limit:
                ids[r] = previous_ids[c]
    for i, found in enumerate(ids):
        if found is None:
            ids[i] = style_id(next_number)
            next_number += 1
    retired = [p for p in previous_ids if p not in ids]
    return [str(i) for i in ids], retired, next_number


def typical_gap(centroids: np.ndarray) -> float:
    """Median cosine distance from each centroid to its nearest other centroid."""
    if len(centroids) < 2:
        return 2.0  # one style: anything on the same half of the sphere is a match
    return float(np.median(nearest(centroids, centroids, 1, exclude_self=True).distance))


def style_id(number: int) -> str:
    return f"S{number:04d}"


def id_number(style: str) -> int:
    return int(style.lstrip("S"))


def coarser_attributes(rows: Sequence[Mapping[str, str]]) -> dict[str, set[str]]:
    """attribute -> the attributes it implies (articleType=Tshirts implies Topwear, Apparel).

    A implies B when A's value fixes B's value for at least 98% of the items carrying both;
    naming B after A would repeat it ("Tshirts / Topwear / Apparel").
    """
    import pandas as pd

    frame = pd.DataFrame.from_records(list(rows)).replace("", None)
    frame = frame[[c for c in frame.columns if frame[c].nunique() <= MAX_DESCRIBING_VALUES]]
    implied: dict[str, set[str]] = {}
    for a in frame.columns:
        for b in frame.columns:
            both = frame[[a, b]].dropna()
            if a == b or both.empty or both[a].nunique() <= both[b].nunique():
                continue
            modal = both.groupby([a, b]).size().groupby(level=0).max().sum()
            if modal >= 0.98 * len(both):
                implied.setdefault(a, set()).add(b)
    return implied


def describe(members: Sequence[Mapping[str, str]], overall: Mapping[str, Counter],
             implied: Mapping[str, set[str]] | None = None
             ) -> tuple[str, dict[str, tuple[str, float]]]:
    """("Red / Dresses / Summer", attribute -> (dominant value, its share in the style)).

    Values held by at least half the style's items qualify; the description lists the
    ``DESCRIPTION_PARTS`` most distinctive (share in style over share overall), naming a
    value once and the most specific of attributes that imply one another.
    """
    dominant: dict[str, tuple[str, float]] = {}
    lift: dict[str, float] = {}
    for attribute, totals in overall.items():
        if len(totals) > MAX_DESCRIBING_VALUES or len(totals) < 2:
            continue
        counts = Counter(m[attribute] for m in members if m.get(attribute))
        if not counts:
            continue
        value, count = counts.most_common(1)[0]
        share = count / sum(counts.values())
        dominant[attribute] = (value, round(share, 3))
        if share >= DOMINANT_SHARE:
            lift[attribute] = share / (totals[value] / sum(totals.values()))
    implied = implied or {}
    chosen: list[str] = []
    for attribute in sorted(lift, key=lambda a: -lift[a]):
        named = {dominant[c][0] for c in chosen}
        covered = set().union(*(implied.get(c, set()) for c in chosen))
        if attribute in covered or dominant[attribute][0] in named:
            continue
        # A more specific attribute takes the place of the coarser one it implies.
        coarser = [c for c in chosen if c in implied.get(attribute, set())]
        if coarser:
            chosen[chosen.index(coarser[0])] = attribute
            chosen = [c for c in chosen if c not in coarser[1:]]
        else:
            chosen.append(attribute)
    text = " / ".join(dominant[a][0] for a in chosen[:DESCRIPTION_PARTS]) or "mixed"
    return text, dominant


def representatives(unit: np.ndarray, labels: np.ndarray, centroids: np.ndarray,
                    n: int = 5) -> tuple[list[np.ndarray], np.ndarray]:
    """Per style, the rows of its ``n`` members nearest the centroid (medoid first), and the
    style's spread: the median member-to-centroid cosine distance."""
    rows, spread = [], np.zeros(len(centroids))
    for s in range(len(centroids)):
        members = np.flatnonzero(labels == s)
        if len(members) == 0:
            rows.append(members)
            continue
        distance = 1.0 - unit[members] @ centroids[s]
        rows.append(members[np.argsort(distance)[:n]])
        spread[s] = float(np.median(distance))
    return rows, spread


def assign(vectors: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nearest style index, cosine distance to its centroid) for every vector."""
    found = nearest(vectors, centroids, 1)
    return found.index[:, 0], found.distance[:, 0]


def centroids_of(styles: pa.Table) -> np.ndarray:
    """A styles table's centroids as a (styles, dim) array."""
    return vectors_of(styles.rename_columns(
        ["vector" if c == "centroid" else c for c in styles.column_names]))


WINDOW = "window"    # a styles run's counts of the weeks in its window (from its members)
ORPHAN = "orphan"    # ... of older weeks no earlier run held (nearest of its centroids)


def defining_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """``iso_week, style_id, count`` from the style-count partitions of several runs
    (``run, iso_week, style_id, count, part``): per data week, the rows of the run that
    defines it, the latest whose window held it, else the first it is an orphan of."""
    window = counts[counts["part"] == WINDOW]
    defining = window.groupby("iso_week")["run"].max()
    orphans = counts[(counts["part"] == ORPHAN) & ~counts["iso_week"].isin(defining.index)]
    defining = pd.concat([defining, orphans.groupby("iso_week")["run"].min()])
    keep = counts[counts["run"].to_numpy() == counts["iso_week"].map(defining).to_numpy()]
    keep = keep[(keep["part"] == WINDOW) | ~keep["iso_week"].isin(window["iso_week"])]
    return (keep[["iso_week", "style_id", "count"]].sort_values(["iso_week", "style_id"])
            .reset_index(drop=True))
