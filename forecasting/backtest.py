"""Rolling-origin cross-validation: refit at each cutoff, forecast the next ``h`` periods.

Like statsforecast's ``cross_validation`` the result carries a ``cutoff`` column (the last
date each model saw), so every later step (metrics, model choice, conformal intervals)
can tell which window a forecast came from and never peeks past it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.models import Forecaster
from pipeline.core.errors import UnusableInputError


@dataclass
class Backtest:
    forecasts: pd.DataFrame   # unique_id, ds, cutoff, model, yhat, y, step, scale
    seconds: dict[str, float] = field(default_factory=dict)   # fit + predict time per model
    skipped: list[str] = field(default_factory=list)          # why windows or series were left out


def seasonal_scale(y: np.ndarray, season_length: int) -> float:
    """MASE's denominator: in-sample mean absolute seasonal difference (lag 1 when too short)."""
    lag = season_length if len(y) > season_length else 1
    diffs = np.abs(y[lag:] - y[:-lag])
    return float(diffs.mean()) if len(diffs) else float("nan")


def split(df: pd.DataFrame, h: int, offset: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per series: train = all but the last ``h + offset`` rows, test = the ``h`` after it."""
    from_end = df.groupby("unique_id").cumcount(ascending=False).to_numpy()
    train = df[from_end >= h + offset]
    test = df[(from_end >= offset) & (from_end < h + offset)]
    return train, test


def cross_validation(models: Sequence[Forecaster], df: pd.DataFrame, h: int, windows: int,
                     step: int | None = None, min_train: int | None = None) -> Backtest:
    """Backtest each model (a fresh copy per window) on ``windows`` origins, ``step`` apart.

    A series enters a window only if its training part has more than ``min_train`` values
    (default one season), enough for a seasonal model and for MASE's scale.
    """
    df = df.sort_values(["unique_id", "ds"], ignore_index=True)
    step = step or h
    season_length = models[0].season_length
    min_train = season_length + 1 if min_train is None else min_train
    result = Backtest(pd.DataFrame())
    parts, failures = [], []
    for model in models:
        model.load()
    for window in range(windows):
        offset = (windows - 1 - window) * step
        train, test = split(df, h, offset)
        sizes = train.groupby("unique_id").size()
        short = sizes.index[sizes < min_train]
        if len(short):
            result.skipped.append(f"window {window + 1}: {len(short)} series with fewer than "
                                  f"{min_train} training values left out")
            train = train[~train["unique_id"].isin(short)]
            test = test[~test["unique_id"].isin(short)]
        if train.empty:
            result.skipped.append(f"window {window + 1}: no series long enough")
            continue
        truth = holdout_truth(train, test, season_length)
        for template in models:
            model = copy.deepcopy(template)
            start = time.perf_counter()
            try:
                predicted = model.fit(train).predict(h)
            except ValueError as err:   # a model this panel does not suit; the others go on
                result.skipped.append(f"window {window + 1}: {model.alias} left out: {err}")
                failures.append(str(err))
                continue
            result.seconds[model.alias] = (result.seconds.get(model.alias, 0.0)
                                           + time.perf_counter() - start)
            parts.append(truth.merge(predicted[["unique_id", "ds", "model", "yhat"]],
                                     on=["unique_id", "ds"], how="inner"))
    if not parts and failures:
        raise UnusableInputError(f"no candidate model could forecast these series "
                                 f"({'; '.join(dict.fromkeys(failures))}); choose other candidates")
    if not parts:
        raise UnusableInputError(
            f"no series is long enough for one backtest window: a horizon of {h} needs more "
            f"than {h + min_train} values; use a shorter horizon")
    result.forecasts = pd.concat(parts, ignore_index=True)
    return result


def holdout_truth(train: pd.DataFrame, test: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """The test rows with their window's cutoff, step number and MASE scale."""
    per_series = train.groupby("unique_id").agg(
        cutoff=("ds", "max"),
        scale=("y", lambda y: seasonal_scale(y.to_numpy(float), season_length)))
    truth = test[["unique_id", "ds", "y"]].merge(per_series, on="unique_id")
    truth["step"] = truth.groupby("unique_id").cumcount() + 1
    return truth
