"""Trend scores: is each series rising, stable or declining, and how sure are we?

Growth compares the forecast over the horizon with the same periods one season earlier
(year over year for a yearly season). The label uses a +-5% threshold, the three classes of
the HERMES fashion-forecasting benchmark (Papadopoulos et al., 2022), so direction accuracy
is measured the way that paper measures it. Probabilities come from the model's own
backtest: its scaled errors on the horizon total, pooled across series, are added to each
forecast total, and the share of outcomes past each threshold is the probability.

The pooled errors are symmetrised (each is used with both signs). Their spread carries over
from series to series, their sign does not: a model that trails rising series and declining
ones has positive errors on the first and negative on the second, and adding the rising
series' errors to a declining forecast would call it rising. The forecast is the centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting import frequency

LABELS = ("declining", "stable", "rising")


@dataclass(frozen=True)
class TrendConfig:
    threshold: float = 0.05          # +-5% year over year: HERMES's stable band
    low_base_quantile: float = 0.25  # "emerging": rising from the lowest quarter of levels


def label(growth: np.ndarray | pd.Series, threshold: float = 0.05) -> np.ndarray:
    growth = np.asarray(growth, dtype=float)
    return np.where(growth > threshold, "rising",
                    np.where(growth < -threshold, "declining", "stable"))


def last_season_totals(history: pd.DataFrame, forecasts: pd.DataFrame, season_length: int,
                       freq: str) -> pd.DataFrame:
    """Per series: forecast total over the horizon and the actual total a season earlier.

    Only steps whose same period last season is observed count (the first season_length).
    """
    hist = history.assign(period=frequency.period_index(history["ds"], freq))
    fc = forecasts.assign(period=frequency.period_index(forecasts["ds"], freq) - season_length)
    joined = fc.merge(hist[["unique_id", "period", "y"]], on=["unique_id", "period"])
    return joined.groupby("unique_id").agg(forecast_total=("yhat", "sum"),
                                           base_total=("y", "sum"), steps=("y", "size"))


def scores(history: pd.DataFrame, forecasts: pd.DataFrame, season_length: int, freq: str,
           total_errors: np.ndarray, scales: pd.Series,
           config: TrendConfig = TrendConfig()) -> pd.DataFrame:
    """One row per series: growth, label + probability, p_declining / p_stable / p_rising,
    emerging.

    ``total_errors`` are backtest errors of the horizon total divided by (scale x steps);
    empty means no uncertainty information (probabilities are then 0 or 1).
    """
    totals = last_season_totals(history, forecasts, season_length, freq)
    base = totals["base_total"].where(totals["base_total"] > 0)
    growth = totals["forecast_total"] / base - 1
    errors = total_errors[np.isfinite(total_errors)] if len(total_errors) else np.zeros(1)
    errors = np.concatenate([errors, -errors])
    spread = (scales.reindex(totals.index).fillna(0.0) * totals["steps"]).to_numpy()
    outcomes = totals["forecast_total"].to_numpy()[:, None] + spread[:, None] * errors[None, :]
    outcome_growth = outcomes / base.to_numpy()[:, None] - 1
    t = config.threshold
    with np.errstate(invalid="ignore"):
        p_rising = (outcome_growth > t).mean(axis=1)
        p_declining = (outcome_growth < -t).mean(axis=1)
    level = totals["base_total"] / totals["steps"]
    low_base = level <= level.quantile(config.low_base_quantile)
    probabilities = np.column_stack([p_declining, 1 - p_rising - p_declining, p_rising])
    out = pd.DataFrame({
        "unique_id": totals.index, "base_total": totals["base_total"].to_numpy(),
        "forecast_total": totals["forecast_total"].to_numpy(), "growth": growth.to_numpy(),
        # The most probable class, so the label and its probability always agree.
        "label": np.array(LABELS)[probabilities.argmax(axis=1)],
        "probability": probabilities.max(axis=1), "p_declining": p_declining,
        "p_stable": probabilities[:, 1], "p_rising": p_rising})
    out["emerging"] = (out["label"] == "rising") & low_base.to_numpy()
    no_base = base.isna().to_numpy()
    out.loc[no_base, ["growth", "probability", "p_declining", "p_stable", "p_rising"]] = np.nan
    out.loc[no_base, "label"] = "no_base"
    return out


def direction_accuracy(predicted: pd.Series, actual_growth: pd.Series,
                       threshold: float = 0.05) -> float:
    """HERMES-style accuracy: share of series whose 3-class label matches the actual one."""
    actual = pd.Series(label(actual_growth, threshold), index=actual_growth.index)
    both = pd.concat([predicted.rename("p"), actual.rename("a")], axis=1, join="inner")
    both = both[both["p"].isin(LABELS)]
    return float((both["p"] == both["a"]).mean()) if len(both) else float("nan")


def horizon_total_errors(backtest_rows: pd.DataFrame) -> np.ndarray:
    """Per (series, window): (actual total - forecast total) / (scale x steps)."""
    grouped = backtest_rows.groupby(["unique_id", "cutoff"]).agg(
        y=("y", "sum"), yhat=("yhat", "sum"), scale=("scale", "first"), steps=("y", "size"))
    denominator = (grouped["scale"] * grouped["steps"]).where(grouped["scale"] > 0)
    return ((grouped["y"] - grouped["yhat"]) / denominator).dropna().to_numpy()
