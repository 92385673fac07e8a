"""Lag features for the global model, built for all series at once with numpy.

Series are stacked right-aligned in one matrix (column ``-1`` is every series' last value,
shorter series are NaN-padded on the left), so one vectorised step builds the features of
every series for a given forecast origin and horizon. Every value is divided by the series'
level at the origin (its mean over the last season): one model then serves series of any
scale, and a level shift does not push it outside what the trees have seen.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting import frequency


@dataclass(frozen=True)
class SeriesMatrix:
    ids: np.ndarray          # unique_id per row
    values: np.ndarray       # (n_series, n_periods), right-aligned, NaN-padded on the left
    last_period: np.ndarray  # period number of each series' last value
    last_ds: pd.Series       # last date per series, indexed by unique_id

    @classmethod
    def from_long(cls, df: pd.DataFrame, freq: str) -> SeriesMatrix:
        df = df.sort_values(["unique_id", "ds"])
        sizes = df.groupby("unique_id", sort=True).size()
        ids = sizes.index.to_numpy()
        width = int(sizes.max())
        values = np.full((len(ids), width), np.nan)
        # Position of each value counted from its series' end: right alignment in one go.
        from_end = sizes.to_numpy().repeat(sizes.to_numpy()) - df.groupby(
            "unique_id", sort=True).cumcount().to_numpy()
        rows = np.arange(len(ids)).repeat(sizes.to_numpy())
        values[rows, width - from_end] = df["y"].to_numpy(float)
        last_ds = df.groupby("unique_id", sort=True)["ds"].max()
        last_period = frequency.period_index(last_ds, freq)
        return cls(ids, values, last_period, last_ds)


SAME_SEASON_COLUMN_FROM_END = -6


def feature_names(n_lags: int) -> list[str]:
    return [*(f"lag{j}" for j in range(n_lags)), "same_season_1", "same_season_2",
            "prev_season_mean", "last3_mean", "horizon", "season_pos"]


def _row_mean(block: np.ndarray) -> np.ndarray:
    """Mean of each row's known values; NaN (silently) for a row or block with none."""
    if block.shape[1] == 0:
        return np.full(len(block), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(block, axis=1)


def level(values: np.ndarray, origin: int, season_length: int) -> np.ndarray:
    return _row_mean(values[:, max(0, origin - season_length + 1): origin + 1])


def origin_features(matrix: SeriesMatrix, origin: int, horizon: int, season_length: int,
                    n_lags: int) -> tuple[np.ndarray, np.ndarray]:
    """Features of every series for a forecast made at column ``origin`` for ``horizon``.

    Returns (features, level); the model's target is ``value / level``.
    """
    values, m = matrix.values, season_length
    lvl = level(values, origin, m)
    safe = np.where(lvl > 0, lvl, np.nan)
    width = values.shape[1]

    def column(index: int) -> np.ndarray:
        if 0 <= index < width:
            return values[:, index] / safe
        return np.full(len(values), np.nan)

    same_season = origin + horizon - m * int(np.ceil(horizon / m))
    prev_mean = _row_mean(values[:, max(0, origin - 2 * m + 1): max(0, origin - m + 1)]) / safe
    last3 = _row_mean(values[:, max(0, origin - 2): origin + 1]) / safe
    periods_to_end = width - 1 - origin
    season_pos = (matrix.last_period - periods_to_end + horizon) % m
    columns = [*(column(origin - j) for j in range(n_lags)), column(same_season),
               column(same_season - m), prev_mean, last3,
               np.full(len(values), float(horizon)), season_pos.astype(float)]
    return np.column_stack(columns), lvl


def target_base(features: np.ndarray, level: np.ndarray, relative_to: str) -> np.ndarray:
    """What the model's target is relative to: the level, or last season's same-period value.

    Relative to last season, a tree learns a growth ratio near 1 instead of the whole seasonal
    shape; where that value is missing or zero the level stands in.
    """
    if relative_to == "level":
        return np.where(level > 0, level, np.nan)
    same = features[:, SAME_SEASON_COLUMN_FROM_END] * level
    return np.where(same > 0, same, np.where(level > 0, level, np.nan))


def training_rows(matrix: SeriesMatrix, horizon: int, season_length: int, n_lags: int,
                  min_history: int, max_origins: int, max_rows: int, relative_to: str,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(features, scaled target) for every past origin that has a known future value."""
    values = matrix.values
    width = values.shape[1]
    history = np.cumsum(~np.isnan(values), axis=1)
    first_origin = max(0, width - 1 - horizon - max_origins)
    blocks_x, blocks_y = [], []
    for origin in range(first_origin, width - 1):
        for k in range(1, min(horizon, width - 1 - origin) + 1):
            x, lvl = origin_features(matrix, origin, k, season_length, n_lags)
            y = values[:, origin + k] / target_base(x, lvl, relative_to)
            keep = np.isfinite(y) & (history[:, origin] >= min_history)
            blocks_x.append(x[keep])
            blocks_y.append(y[keep])
    features, target = np.concatenate(blocks_x), np.concatenate(blocks_y)
    if len(target) > max_rows:
        pick = rng.choice(len(target), size=max_rows, replace=False)
        features, target = features[pick], target[pick]
    return features, target
