"""Lag features for the global model, built for all series at once with numpy.

Series are stacked right-aligned in one matrix (column ``-1`` is every series' last value,
shorter series are NaN-padded on the left), so one vectorised step builds the features of
every series for a given forecast origin and horizon. Every value is divided by the series'
level at the origin (its mean over the last season): one model then serves series of any
scale, and a level shift does not push it outside what the trees have seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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

    def rows(self, index: np.ndarray) -> SeriesMatrix:
        return SeriesMatrix(self.ids[index], self.values[index], self.last_period[index],
                            self.last_ds.iloc[index])

    # Built once per matrix, not once per horizon: on 50k series each is a pass over it all.
    @cached_property
    def window_means(self) -> _WindowMeans:
        return _WindowMeans(self.values)

    @cached_property
    def padded(self) -> np.ndarray:
        """The values with one all-NaN column appended: where out-of-range lags point."""
        return np.hstack([self.values, np.full((len(self.values), 1), np.nan)])


NAMED_FEATURES = ("same_season_1", "same_season_2", "prev_season_mean", "last3_mean",
                  "yoy_last", "yoy_last3", "yoy_season", "horizon", "season_pos")


def feature_names(n_lags: int) -> list[str]:
    return [*(f"lag{j}" for j in range(n_lags)), *NAMED_FEATURES]


def same_season_column(n_lags: int) -> int:
    return n_lags + NAMED_FEATURES.index("same_season_1")


class _WindowMeans:
    """Means over column windows of every row in O(1) each, from cumulative sums."""

    def __init__(self, values: np.ndarray) -> None:
        known = ~np.isnan(values)
        zero = np.zeros((len(values), 1))
        self.width = values.shape[1]
        self.sums = np.hstack([zero, np.cumsum(np.where(known, values, 0.0), axis=1)])
        self.counts = np.hstack([zero, np.cumsum(known, axis=1)])

    def mean(self, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Mean of columns [start, stop) per row and per window; NaN where none is known."""
        start = np.clip(start, 0, self.width)
        stop = np.clip(stop, 0, self.width)
        n = self.counts[:, stop] - self.counts[:, start]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, (self.sums[:, stop] - self.sums[:, start]) / n, np.nan)


def origin_features(matrix: SeriesMatrix, origins: np.ndarray, horizon: int,
                    season_length: int, n_lags: int) -> tuple[np.ndarray, np.ndarray]:
    """Features of every series for forecasts made at columns ``origins`` for ``horizon``.

    Returns (features, level), one row per (series, origin), series-major.
    """
    values, m = matrix.values, season_length
    width = values.shape[1]
    origins = np.asarray(origins)
    windows, padded = matrix.window_means, matrix.padded
    lvl = windows.mean(origins - m + 1, origins + 1)
    safe = np.where(lvl > 0, lvl, np.nan)

    def column(index: np.ndarray) -> np.ndarray:
        inside = (index >= 0) & (index < width)
        return padded[:, np.where(inside, index, width)] / safe

    def mean(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        return windows.mean(start, stop) / safe

    same_season = origins + horizon - m * int(np.ceil(horizon / m))
    prev_mean = mean(origins - 2 * m + 1, origins - m + 1)
    last3 = mean(origins - 2, origins + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Year-over-year ratios: a tree cannot divide one feature by another by itself, and
        # recent growth against last season is what a seasonal trend forecast hinges on.
        yoy = [column(origins) / column(origins - m),
               last3 / mean(origins - m - 2, origins - m + 1), 1 / prev_mean]
    season_pos = (matrix.last_period[:, None] - (width - 1 - origins)[None, :] + horizon) % m
    columns = [*(column(origins - j) for j in range(n_lags)), column(same_season),
               column(same_season - m), prev_mean, last3, *yoy,
               np.full(lvl.shape, float(horizon)), season_pos.astype(float)]
    features = np.stack([c.reshape(-1) for c in columns], axis=1)
    features[~np.isfinite(features)] = np.nan
    return features, lvl.reshape(-1)


def target_base(features: np.ndarray, level: np.ndarray, relative_to: str) -> np.ndarray:
    """What the model's target is relative to: the level, or last season's same-period value.

    Relative to last season, a tree learns a growth ratio near 1 instead of the whole seasonal
    shape; where that value is missing or zero the level stands in.
    """
    if relative_to == "level":
        return np.where(level > 0, level, np.nan)
    n_lags = features.shape[1] - len(NAMED_FEATURES)
    same = features[:, same_season_column(n_lags)] * level
    return np.where(same > 0, same, np.where(level > 0, level, np.nan))


def training_rows(matrix: SeriesMatrix, horizon: int, season_length: int, n_lags: int,
                  min_history: int, max_origins: int, max_rows: int, relative_to: str,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(features, scaled target) for past origins with a known future value.

    Beyond ``max_rows`` (series x origins x horizons), each horizon uses a random subset of
    series, so memory and time stay flat however many series there are.
    """
    n_series, width = matrix.values.shape
    history = np.cumsum(~np.isnan(matrix.values), axis=1)
    first_origin = max(0, width - 1 - horizon - max_origins)
    features, targets = [], []
    for k in range(1, horizon + 1):
        origins = np.arange(first_origin, width - k)
        if len(origins) == 0:
            continue
        per_horizon = max(1, max_rows // horizon // len(origins))
        if per_horizon >= n_series:
            rows, sample = np.arange(n_series), matrix
        else:
            rows = np.sort(rng.choice(n_series, size=per_horizon, replace=False))
            sample = matrix.rows(rows)
        x, lvl = origin_features(sample, origins, k, season_length, n_lags)
        y = sample.values[:, origins + k].reshape(-1) / target_base(x, lvl, relative_to)
        enough = (history[rows][:, origins] >= min_history).reshape(-1)
        keep = np.isfinite(y) & enough
        features.append(x[keep])
        targets.append(y[keep])
    if not features:
        return np.empty((0, n_lags + len(NAMED_FEATURES))), np.empty(0)
    return np.concatenate(features), np.concatenate(targets)
