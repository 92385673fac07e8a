"""Accuracy and interval metrics on backtest (or held-out) forecasts.

Input rows carry ``unique_id, cutoff, model, y, yhat`` and ``scale`` (MASE's in-sample
seasonal scale at the cutoff). MASE and sMAPE are averaged per (series, window) first, then
over those, so a long series does not outweigh a short one; WAPE is pooled over all rows.
Series with a zero scale (constant history) have no MASE and are left out of its mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def add_errors(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.copy()
    err = (rows["y"] - rows["yhat"]).abs()
    rows["abs_error"] = err
    denominator = rows["y"].abs() + rows["yhat"].abs()
    rows["smape"] = np.where(denominator > 0, 200 * err / denominator.where(denominator > 0, 1),
                             0.0)
    scale = rows["scale"].where(rows["scale"] > 0)
    rows["scaled_error"] = err / scale
    return rows


def per_window_mase(rows: pd.DataFrame) -> pd.Series:
    """Mean MASE per (cutoff, model), series weighted equally."""
    rows = add_errors(rows)
    per_series = rows.groupby(["cutoff", "model", "unique_id"])["scaled_error"].mean()
    return per_series.groupby(["cutoff", "model"]).mean()


def table(rows: pd.DataFrame, levels: Sequence[int] = ()) -> pd.DataFrame:
    """One row per model: mase, smape, wape, and coverage/width per level when present."""
    rows = add_errors(rows)
    keys = ["model", "unique_id", "cutoff"]
    per_window = rows.groupby(keys).agg(mase=("scaled_error", "mean"), smape=("smape", "mean"))
    out = per_window.groupby("model").agg(mase=("mase", "mean"), smape=("smape", "mean"))
    pooled = rows.groupby("model").agg(abs_error=("abs_error", "sum"),
                                       abs_y=("y", lambda y: y.abs().sum()),
                                       n_series=("unique_id", "nunique"),
                                       n_windows=("cutoff", "nunique"))
    out["wape"] = pooled["abs_error"] / pooled["abs_y"].where(pooled["abs_y"] > 0)
    for lv in levels:
        lo, hi = rows[f"yhat_lo_{lv}"], rows[f"yhat_hi_{lv}"]
        covered = ((rows["y"] >= lo) & (rows["y"] <= hi)).astype(float)
        rows[f"covered_{lv}"] = covered.where(lo.notna() & hi.notna())
        rows[f"width_{lv}"] = (hi - lo) / rows["scale"].where(rows["scale"] > 0)
        intervals = rows.groupby("model").agg(**{
            f"coverage_{lv}": (f"covered_{lv}", "mean"),
            f"scaled_width_{lv}": (f"width_{lv}", "mean")})
        out = out.join(intervals)
    out = out.join(pooled[["n_series", "n_windows"]])
    return out.sort_values("mase").reset_index()
