"""``stylecast styles``: discover styles over a rolling window and store them by ISO week.

Writes three datasets of the catalog for week W: ``styles`` (one row per style active in W,
and one per style retired that week, ``status = retired``, with its centroid, size, spread,
description, dominant attributes and representative items), ``memberships`` (the style of
every item in the window) and ``style-counts`` (what the series count per data week and
style, ``styles.membership``). Re-running a week replaces all three.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core import catalog
from pipeline.core.catalog import read_embeddings, read_styles
from pipeline.core.errors import UnusableInputError
from pipeline.core.names import EMBEDDING_DIM
from pipeline.core.settings import Settings
from pipeline.core.weeks import iso_week, parse_week
from pipeline.embed.neighbours import unit_rows
from pipeline.embed.transforms import vectors_of
from pipeline.styles import DEFAULT_WINDOW_WEEKS, membership, transforms

DEFAULT_CANDIDATES = tuple(range(4, 25, 2))
REPRESENTATIVES = 6
# Styles are described from a sample of the window's items: a dominant value's share is
# then known to about a percentage point, and describing costs the same at any store size.
DESCRIBE_SAMPLE = 20_000
NEXT_NUMBER = "stylecast.next_style_number"  # footer: the next style number unused so far


def window_weeks(week: str, available: list[str], length: int) -> list[str]:
    last = parse_week(week)
    wanted = {iso_week(last - timedelta(weeks=i)) for i in range(length)}
    return sorted(w for w in available if w in wanted)


def _attributes(settings: Settings, weeks: list[str], items: list[str]
                ) -> dict[str, dict[str, str]]:
    """The attribute maps of ``items`` (of the given weeks)."""
    table = catalog.ITEMS.scan(settings, weeks, columns=["item_id", "attributes"])
    table = table.filter(pc.is_in(table["item_id"], pa.array(items)))
    return {item: dict(pairs or []) for item, pairs in zip(
        table["item_id"].to_pylist(), table["attributes"].to_pylist(), strict=True)}


def _previous(settings: Settings, earlier: list[str]) -> tuple[pa.Table | None, int]:
    """The last earlier styles week's active styles (if any) and the next style number
    unused before this week (so re-running a week reproduces its IDs): the last earlier
    file records it; files written before that record are read in full."""
    if not earlier:
        return None, 1
    recorded = catalog.STYLES.footer(settings, earlier[-1]) or {}
    if NEXT_NUMBER in recorded:
        next_number = int(recorded[NEXT_NUMBER])
    else:
        every = [transforms.id_number(s) for w in earlier for s in catalog.STYLES.read(
            settings, w, columns=["style_id"])["style_id"].to_pylist()]
        next_number = max(every, default=0) + 1
    return read_styles(settings, earlier[-1]), next_number


def run_for_week(settings: Settings, week: str) -> dict[str, object]:
    """The weekly job's styles of ``week``. A week with no items keeps the styles of the last
    week that had some, under its own key; they are clustered only if that week's run never
    stored them."""
    parse_week(week)
    latest = [w for w in catalog.ITEMS.required_weeks(settings, "stylecast ingest")
              if w <= week]
    if not latest:
        raise UnusableInputError(f"no items in or before {week}")
    if latest[-1] == week:
        return run(settings, week)
    source = latest[-1]
    summary = ({"week": source, "reused": catalog.STYLES.path(settings, source)}
               if catalog.STYLES.exists(settings, source) else run(settings, source))
    catalog.STYLES.copy(settings, source, week)
    return {**summary, "copied_to": week}


def run(settings: Settings, week: str | None = None, window: int = DEFAULT_WINDOW_WEEKS,
        k: int | None = None, candidates: tuple[int, ...] = DEFAULT_CANDIDATES,
        seed: int = 0) -> dict[str, object]:
    available = catalog.EMBEDDINGS.required_weeks(settings, "stylecast embed")
    week = week or available[-1]
    parse_week(week)
    weeks = window_weeks(week, available, window)
    if not weeks:
        raise UnusableInputError(f"no embedded items in the {window} weeks up to {week}")
    table = read_embeddings(settings, weeks)
    version = table["model_version"][0].as_py()
    earlier = [w for w in catalog.STYLES.weeks(settings) if w < week]
    unstyled = [w for w in available if earlier and earlier[-1] < w < week]
    if unstyled:  # IDs matched against older styles: not what running in order gives
        logging.getLogger("stylecast").warning(
            "styles for %s are matched against %s's: %d embedded week(s) between have no "
            "styles yet (%s). Run weeks in order; a backfill needs --max-active-runs 1.",
            week, earlier[-1], len(unstyled), ", ".join(unstyled[:5]))
    previous, next_number = _previous(settings, earlier)
    if previous is not None and previous["model_version"][0].as_py() != version:
        previous = None  # another encoder's space: last week's centroids cannot seed or match
    old_centroids = None if previous is None else transforms.centroids_of(previous)
    vectors = vectors_of(table)
    found = transforms.discover(vectors, candidates, old_centroids, k, seed)
    ids, retired, _ = transforms.match_ids(
        found.centroids, np.zeros((0, EMBEDDING_DIM)) if previous is None else old_centroids,
        [] if previous is None else previous["style_id"].to_pylist(), next_number)

    unit = unit_rows(vectors)
    item_ids = table["item_id"].to_pylist()
    described = np.arange(len(item_ids)) if len(item_ids) <= DESCRIBE_SAMPLE else np.sort(
        np.random.default_rng(seed).choice(len(item_ids), DESCRIBE_SAMPLE, replace=False))
    attributes = _attributes(settings, weeks, [item_ids[i] for i in described])
    members = [attributes.get(item_ids[i], {}) for i in described]
    overall: dict[str, Counter] = {}
    for row in members:
        for name, value in row.items():
            if value:
                overall.setdefault(name, Counter())[value] += 1
    implied = transforms.coarser_attributes(members)
    reps, spread = transforms.representatives(unit, found.labels, found.centroids, REPRESENTATIVES)
    sizes = np.bincount(found.labels, minlength=found.k)
    records = []
    for s, style in enumerate(ids):
        text, dominant = transforms.describe(
            [members[i] for i in np.flatnonzero(found.labels[described] == s)], overall,
            implied)
        records.append({"style_id": style, "status": "active", "size": int(sizes[s]),
                        "share": int(sizes[s]) / len(item_ids), "description": text,
                        "dominant_json": json.dumps(dominant), "spread": float(spread[s]),
                        "representatives": [item_ids[i] for i in reps[s]],
                        "centroid": found.centroids[s].tolist()})
    if previous is not None:
        old = {r["style_id"]: r for r in previous.to_pylist()}
        records += [{**old[r], "status": "retired", "size": 0, "share": 0.0} for r in retired]
    common = {"week": week, "window_first": weeks[0], "window_last": weeks[-1],
              "model_version": version, "k": found.k}
    styles_table = pa.Table.from_pylist([{**r, **common} for r in records],
                                        schema=catalog.STYLES.schema)
    member_table = pa.table({"item_id": item_ids, "iso_week": table["iso_week"],
                             "style_id": [ids[i] for i in found.labels],
                             "distance": (1.0 - np.einsum("ij,ij->i", unit, found.centroids[
                                 found.labels])).astype(np.float32)})
    catalog.MEMBERSHIPS.write(settings, member_table, week)
    catalog.STYLES.write(settings, styles_table, week, metadata={
        NEXT_NUMBER: str(max([next_number - 1, *map(transforms.id_number, ids)]) + 1)})
    membership.refresh(settings)
    return {"week": week, "window": [weeks[0], weeks[-1]], "items": len(item_ids),
            "styles": found.k, "new": [i for i in ids if transforms.id_number(i) >= next_number],
            "retired": retired, "model_version": version, "unstyled_weeks_before": unstyled,
            "silhouette": {str(c): round(v, 4) for c, v in found.silhouette.items()},
            "descriptions": {r["style_id"]: r["description"] for r in records
                             if r["status"] == "active"}}

