"""Split-conformal prediction intervals from backtest residuals.

For each horizon step, the absolute backtest errors, scaled by each series' MASE scale,
give a quantile q; the interval is ``yhat +- q * scale``. Pooling scaled errors across
series gives short series calibrated intervals too; per-step quantiles let the interval
widen with the horizon. Coverage is then a measured number, not a distributional hope.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasting.backtest import cross_validation, seasonal_scale
from forecasting.models import Forecaster

MIN_ERRORS_PER_STEP = 20


def conformal_quantile(scores: np.ndarray, level: int) -> float:
    """The finite-sample-corrected ``level`` quantile of nonconformity scores."""
    scores = scores[np.isfinite(scores)]
    if len(scores) == 0:
        return float("nan")
    rank = min(1.0, np.ceil((len(scores) + 1) * level / 100) / len(scores))
    return float(np.quantile(scores, rank, method="higher"))


def calibrate(backtest_rows: pd.DataFrame, levels: Sequence[int]) -> pd.DataFrame:
    """Quantile of scaled absolute error per (model, step, level); rows: model, step."""
    rows = backtest_rows.assign(
        score=(backtest_rows["y"] - backtest_rows["yhat"]).abs()
        / backtest_rows["scale"].where(backtest_rows["scale"] > 0))
    out = []
    for model, group in rows.groupby("model"):
        pooled = group["score"].to_numpy()
        for step, at_step in group.groupby("step"):
            # Too few errors at one step: borrow from all steps of the model instead.
            scores = at_step["score"].to_numpy()
            scores = scores if np.isfinite(scores).sum() >= MIN_ERRORS_PER_STEP else pooled
            out.append({"model": model, "step": step,
                        **{f"q_{lv}": conformal_quantile(scores, lv) for lv in levels}})
    return pd.DataFrame(out)


def apply(forecasts: pd.DataFrame, quantiles: pd.DataFrame, scales: pd.Series,
          levels: Sequence[int], bounds: tuple[float | None, float | None]) -> pd.DataFrame:
    """Add yhat_lo_L / yhat_hi_L; ``scales`` is indexed by unique_id, ``forecasts`` has step.

    Forecasts and intervals are clipped to ``bounds`` (shares: [0, 1]); clipping after the
    intervals are built keeps every lower bound <= yhat <= every upper bound.
    """
    out = forecasts.merge(quantiles, on=["model", "step"], how="left")
    scale = out["unique_id"].map(scales).fillna(0.0).to_numpy()
    for lv in levels:
        half = out.pop(f"q_{lv}").to_numpy() * scale
        out[f"yhat_lo_{lv}"] = np.clip(out["yhat"] - half, *bounds)
        out[f"yhat_hi_{lv}"] = np.clip(out["yhat"] + half, *bounds)
    out["yhat"] = np.clip(out["yhat"], *bounds)
    return out


def with_steps(forecasts: pd.DataFrame) -> pd.DataFrame:
    forecasts = forecasts.sort_values(["model", "unique_id", "ds"], ignore_index=True)
    return forecasts.assign(step=forecasts.groupby(["model", "unique_id"]).cumcount() + 1)


def series_scales(df: pd.DataFrame, season_length: int) -> pd.Series:
    return df.groupby("unique_id")["y"].apply(
        lambda y: seasonal_scale(y.to_numpy(float), season_length))


class Conformal(Forecaster):
    """Give any model conformal intervals: backtest it on ``windows`` origins at fit time."""

    def __init__(self, model: Forecaster, windows: int = 2, horizon: int | None = None,
                 bounds: tuple[float | None, float | None] = (None, None)) -> None:
        super().__init__(model.season_length, model.freq)
        self.model, self.windows, self.bounds = model, windows, bounds
        self.horizon = horizon or model.season_length
        self.alias = model.alias

    def _fit(self, df: pd.DataFrame) -> None:
        backtest = cross_validation([self.model], df, self.horizon, self.windows)
        self.backtest_rows_ = backtest.forecasts
        self.scales_ = series_scales(df, self.season_length)
        self.fitted_ = copy.deepcopy(self.model).fit(df)

    def predict(self, h: int, level: Sequence[int] = ()) -> pd.DataFrame:
        forecasts = with_steps(self.fitted_.predict(h))
        if not level:
            return forecasts.drop(columns="step")
        quantiles = calibrate(self.backtest_rows_, level)
        return apply(forecasts, quantiles, self.scales_, level, self.bounds).drop(columns="step")
