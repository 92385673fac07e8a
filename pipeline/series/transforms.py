"""Popularity series from observations: the share of each attribute value per period.

Pure transforms (tables in, DataFrames out).

A share (items with the value / items labelled for the attribute) rather than a count, so
that a week with more photos does not look like a trend. Long format ``unique_id, ds, y``
plus ``kind``, ``count`` and ``n`` (the denominator), the long format statsforecast uses;
``unique_id`` is ``attribute=value``. Periods with no labelled item are explicit zeros
(``count = n = 0``), so a quiet week is visible rather than missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.names import STYLE_KIND
from pipeline.core.weeks import parse_week

ATTRIBUTE_KIND = "attribute"
GROUP_ATTRIBUTE = "city"  # label-only street photos: every attribute also per city
SERIES_COLUMNS = ["unique_id", "ds", "y", "kind", "count", "n"]


def shares(long: pd.DataFrame, span: pd.DatetimeIndex, min_mean_share: float = 0.0
           ) -> pd.DataFrame:
    """Shares from one row per labelled observation (``ds, attribute, value``)."""
    return shares_from_counts(observation_counts(long), span, min_mean_share)


def observation_counts(long: pd.DataFrame) -> pd.DataFrame:
    """``attribute, value, ds, count`` from one row per observation; blank values dropped."""
    long = long[long["value"].notna() & (long["value"].astype(str).str.strip() != "")]
    return long.groupby(["attribute", "value", "ds"]).size().rename("count").reset_index()


def shares_from_counts(counts: pd.DataFrame, span: pd.DatetimeIndex,
                       min_mean_share: float = 0.0) -> pd.DataFrame:
    """Shares from ``attribute, value, ds, count``: what per-week count partitions add up to.

    Every labelled observation has one value per attribute, so an attribute's total in a
    week (the denominator) is the sum of its values' counts.
    """
    counts = counts[counts["count"] > 0]
    totals = counts.groupby(["attribute", "ds"])["count"].sum().rename("n").reset_index()
    values = counts[["attribute", "value"]].drop_duplicates()
    grid = values.merge(pd.DataFrame({"ds": span}), how="cross")
    out = (grid.merge(counts, on=["attribute", "value", "ds"], how="left")
           .merge(totals, on=["attribute", "ds"], how="left").fillna({"count": 0, "n": 0}))
    out["y"] = (out["count"] / out["n"].where(out["n"] > 0)).fillna(0.0)
    out["unique_id"] = out["attribute"] + "=" + out["value"].astype(str)
    out["kind"] = ATTRIBUTE_KIND
    keep = out.groupby("unique_id")["y"].transform("mean") >= min_mean_share
    return out.loc[keep, SERIES_COLUMNS].astype({"count": int, "n": int}).sort_values(
        ["unique_id", "ds"], ignore_index=True)


def attribute_shares(observations: pd.DataFrame, date_column: str, attributes: Sequence[str],
                     freq: str, min_mean_share: float = 0.0) -> pd.DataFrame:
    """Shares from a table with one column per attribute (blank = not labelled)."""
    period_freq = _period_freq(freq)
    dates = pd.to_datetime(observations[date_column], utc=True, errors="coerce")
    period = dates.dt.tz_localize(None).dt.to_period(period_freq).dt.start_time
    long = (observations[list(attributes)].assign(ds=period)
            .melt(id_vars="ds", var_name="attribute", value_name="value"))
    long = long[long["ds"].notna()]
    span = pd.period_range(long["ds"].min(), long["ds"].max(), freq=period_freq).start_time
    return shares(long, span, min_mean_share)


def item_attribute_shares(items: pa.Table, min_mean_share: float = 0.0) -> pd.DataFrame:
    """Weekly shares from the items dataset (``iso_week`` + the ``attributes`` map)."""
    weeks = items.column("iso_week").combine_chunks()
    return shares_from_counts(item_attribute_counts(items), week_span(weeks), min_mean_share)


def item_attribute_counts(items: pa.Table) -> pd.DataFrame:
    """``attribute, value, ds, count`` of the items (``iso_week`` + the ``attributes`` map).

    When items carry a ``city``, every other attribute is also counted per city
    (``city=Paris|colour=red``: the share among that city's labelled items).
    """
    attributes = items.column("attributes").combine_chunks()
    weeks = items.column("iso_week").combine_chunks()
    if len(attributes) == 0:
        return pd.DataFrame({"attribute": [], "value": [], "ds": pd.to_datetime([]),
                             "count": pd.Series([], dtype=int)})
    # Each item's index repeated once per attribute it carries (from the map's offsets).
    offsets = attributes.offsets.to_numpy()
    parents = pa.array(np.repeat(np.arange(len(attributes)), np.diff(offsets)))
    long = pd.DataFrame({"ds": pc.take(weeks, parents).to_pandas().map(mondays_of(weeks)),
                         "item": parents.to_numpy(),
                         "attribute": attributes.keys.to_pandas(),
                         "value": attributes.items.to_pandas()})
    cities = long[long["attribute"] == GROUP_ATTRIBUTE].set_index("item")["value"]
    if len(cities):
        by_city = long[long["attribute"] != GROUP_ATTRIBUTE].join(cities.rename("city"), on="item")
        by_city = by_city[by_city["city"].notna() & (by_city["city"] != "")]
        by_city["attribute"] = GROUP_ATTRIBUTE + "=" + by_city["city"] + "|" + by_city["attribute"]
        long = pd.concat([long, by_city.drop(columns="city")])
    return observation_counts(long)


def mondays_of(weeks: pa.Array) -> dict[str, pd.Timestamp]:
    return {w: pd.Timestamp(parse_week(w)) for w in pc.unique(weeks).to_pylist()}


def week_span(weeks: pa.Array) -> pd.DatetimeIndex:
    """Every Monday from the first to the last week present (missing weeks included)."""
    mondays = mondays_of(weeks).values()
    return pd.date_range(min(mondays), max(mondays), freq="W-MON")


def style_shares(style_of: pd.DataFrame, weeks: pa.Array) -> pd.DataFrame:
    """Weekly share of each style among the embedded items (``iso_week, style_id``)."""
    counts = style_of.groupby(["iso_week", "style_id"]).size().rename("count").reset_index()
    return style_count_shares(counts, weeks)


def style_count_shares(counts: pd.DataFrame, weeks: pa.Array) -> pd.DataFrame:
    """Weekly share of each style from ``iso_week, style_id, count``."""
    long = pd.DataFrame({"ds": counts["iso_week"].map(mondays_of(weeks)),
                         "attribute": STYLE_KIND, "value": counts["style_id"],
                         "count": counts["count"]})
    return shares_from_counts(long, week_span(weeks)).assign(kind=STYLE_KIND)


def _period_freq(freq: str) -> str:
    """Pandas period alias for a timestamp frequency: MS -> M, W-MON -> W-SUN (Mon-Sun)."""
    if freq.upper().startswith("M"):
        return "M"
    if freq.upper().startswith("W"):
        return "W-SUN"
    return freq


def through_week(frame: pd.DataFrame, week: str) -> pd.DataFrame:
    """Zero rows up to the week itself: a week with no items is an explicit zero."""
    monday = pd.Timestamp(parse_week(week))
    ids = frame["unique_id"].unique()
    span = pd.date_range(frame["ds"].min(), monday, freq="W-MON")
    grid = pd.MultiIndex.from_product([ids, span], names=["unique_id", "ds"])
    kinds = frame.drop_duplicates("unique_id").set_index("unique_id")["kind"]
    full = frame.set_index(["unique_id", "ds"]).reindex(grid).reset_index()
    full["kind"] = full["unique_id"].map(kinds)
    return full.fillna({"y": 0.0, "count": 0, "n": 0}).astype({"count": int, "n": int})
