"""The store scaler (benchmarks/store_scaler.py) on a tiny store: real catalogue photos,
re-dated by the scenario, distinct ids and content hashes, stored by `stylecast ingest`,
and stores of different sizes nested item for item."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import store_scaler


def _items(home: Path) -> pd.DataFrame:
    return duckdb.sql(
        f"select item_id, sha256, iso_week, width, map_extract(attributes, 'articleType')[1] "
        f"as article from read_parquet('{home}/items/week=*/*.parquet', hive_partitioning=true)"
    ).df()


def test_scaled_stores_hold_real_distinct_items_and_nest(tmp_path):
    plan = store_scaler.plan(600, 4, seed=3)
    assert len(plan.weeks) == 4 and abs(plan.items - 600) < 100

    full = store_scaler.build(tmp_path / "full", plan, share=1.0, workers=2)
    part = store_scaler.build(tmp_path / "part", plan, share=0.3, workers=2)
    assert full["items"] == plan.items and part["weeks"] == 4
    items, subset = _items(tmp_path / "full"), _items(tmp_path / "part")
    assert len(items) == plan.items and items["sha256"].nunique() == len(items), \
        "perturbed pixels give every item its own content hash"
    assert items["width"].notna().all()
    assert sorted(items["iso_week"].unique()) == plan.weeks
    planned = pd.Series(pd.concat([pd.Series(w) for w in plan.labels]).value_counts())
    assert items["article"].value_counts().sort_index().equals(planned.sort_index().rename(
        "count")), "each item is a real photo of the article type the scenario drew"

    assert 0.2 < len(subset) / len(items) < 0.4
    joined = subset.merge(items, on="item_id", suffixes=("", "_full"))
    assert len(joined) == len(subset), "a smaller store is a subset of the larger one"
    assert (joined["sha256"] == joined["sha256_full"]).all(), "... byte for byte"
