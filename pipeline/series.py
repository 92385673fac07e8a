"""Popularity series from observations: the share of each attribute value per period.

A share (count of the value / count of observations labelled for the attribute) rather
than a count, so that a week with more photos does not look like a trend. Long format
``unique_id, ds, y`` plus ``kind``, ``count`` and ``n`` (the denominator), as DESIGN.md's
series contract asks; ``unique_id`` is ``attribute=value``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

ATTRIBUTE_KIND = "attribute"


def attribute_shares(observations: pd.DataFrame, date_column: str, attributes: Sequence[str],
                     freq: str, min_mean_share: float = 0.0) -> pd.DataFrame:
    """Shares per (attribute value, period); blank cells mean "not labelled" and don't count.

    Every value gets a row for every period of the span (zero when unseen); values whose
    mean share is below ``min_mean_share`` are dropped.
    """
    dates = pd.to_datetime(observations[date_column], utc=True, errors="coerce")
    period = dates.dt.tz_localize(None).dt.to_period(_period_freq(freq)).dt.start_time
    long = (observations[list(attributes)].assign(ds=period)
            .melt(id_vars="ds", var_name="attribute", value_name="value"))
    long = long[long["ds"].notna() & long["value"].notna()
                & (long["value"].astype(str).str.strip() != "")]
    counts = long.groupby(["attribute", "value", "ds"]).size().rename("count")
    totals = long.groupby(["attribute", "ds"]).size().rename("n")
    span = pd.period_range(long["ds"].min(), long["ds"].max(),
                           freq=_period_freq(freq)).start_time
    values = counts.reset_index()[["attribute", "value"]].drop_duplicates()
    grid = values.merge(pd.DataFrame({"ds": span}), how="cross")
    out = (grid.merge(counts.reset_index(), on=["attribute", "value", "ds"], how="left")
           .merge(totals.reset_index(), on=["attribute", "ds"], how="left"))
    out = out[out["n"].notna()].fillna({"count": 0})
    out["y"] = out["count"] / out["n"]
    out["unique_id"] = out["attribute"] + "=" + out["value"].astype(str)
    out["kind"] = ATTRIBUTE_KIND
    keep = out.groupby("unique_id")["y"].transform("mean") >= min_mean_share
    columns = ["unique_id", "ds", "y", "kind", "count", "n"]
    return out.loc[keep, columns].astype({"count": int, "n": int}).sort_values(
        ["unique_id", "ds"], ignore_index=True)


def _period_freq(freq: str) -> str:
    """Pandas period alias for a timestamp frequency: MS -> M, W-MON -> W-SUN (Mon-Sun)."""
    if freq.upper().startswith("M"):
        return "M"
    if freq.upper().startswith("W"):
        return "W-SUN"
    return freq
