"""Harmonic regression: a level, an optional linear trend and K pairs of seasonal Fourier terms.

Short, noisy series (a few seasons of monthly shares estimated from ~100 photos each) defeat
the models that re-estimate every seasonal index from one or two noisy values: seasonal naive
copies last year's noise, ETS and Theta chase it. A few smooth Fourier terms fitted by least
squares average the noise over every observation instead (Hyndman & Athanasopoulos,
*Forecasting: Principles and Practice*, "dynamic harmonic regression").

The number of harmonics and the trend are chosen once for the whole panel, by AICc summed
over every series (pooling): per-series AICc picks noise on 24 points, while the summed
criterion is stable and picks the shape the panel shares.

Shares are fitted on the logit scale: a season that moves a 2% share to 10% and one that
moves 70% to 90% are the same change in odds, forecasts stay inside (0, 1), and the two
shares of a yes/no attribute get forecasts that still add up to one. Other values are fitted in
units of each series' largest value, so the floor on the residual sum of squares (and with it
the chosen spec) does not depend on the units of y.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from forecasting.models import Forecaster, from_unit_scale, to_unit_scale

SHARE_CLIP = 1e-3


@dataclass(frozen=True)
class HarmonicSpec:
    harmonics: int
    trend: bool

    @property
    def n_params(self) -> int:
        return 1 + int(self.trend) + 2 * self.harmonics


def design(t: np.ndarray, spec: HarmonicSpec, season_length: float) -> np.ndarray:
    """Columns: intercept, trend (per season, so its scale does not depend on m), sin/cos pairs."""
    columns = [np.ones(len(t))]
    if spec.trend:
        columns.append(t / season_length)
    for k in range(1, spec.harmonics + 1):
        angle = 2 * np.pi * k * t / season_length
        columns += [np.sin(angle), np.cos(angle)]
    return np.stack(columns, axis=1)


def aicc(rss: np.ndarray, n: int, p: int) -> np.ndarray:
    """Gaussian AICc of a least-squares fit; a floor on RSS keeps exact fits finite."""
    rss = np.maximum(rss, 1e-12 * n)
    return n * np.log(rss / n) + 2 * p + 2 * p * (p + 1) / (n - p - 1)


class HarmonicRegression(Forecaster):
    """Per-series least squares on Fourier terms; the spec is chosen by pooled AICc.

    ``max_history`` fits on each series' most recent values only (``None``: all of them).
    Specs with more parameters than the shortest series can estimate (n - p - 1 < 2) are not
    considered, so one short series limits the spec but never fails the fit.
    """

    alias = "harmonic"

    def __init__(self, season_length: int, freq: str | None = None, max_harmonics: int = 6,
                 trend_options: Sequence[bool] = (False, True),
                 max_history: int | None = None, shares: bool = False) -> None:
        super().__init__(season_length, freq)
        # K = m/2 would add a sine that is zero at every integer time: stop below it.
        self.max_harmonics = min(max_harmonics, (season_length - 1) // 2)
        self.trend_options = tuple(trend_options)
        self.max_history = max_history
        self.shares = shares

    def _fit(self, df: pd.DataFrame) -> None:
        df = df.sort_values(["unique_id", "ds"])
        if self.max_history:
            df = df.groupby("unique_id").tail(self.max_history)
        self.units_ = None
        if not self.shares:
            df, self.units_ = to_unit_scale(df)
        y = df["y"].to_numpy(float)
        if self.shares:
            # A share of exactly 0 or 1 would be an infinite logit: clip it to 0.1%.
            y = logit(np.clip(y, SHARE_CLIP, 1 - SHARE_CLIP))
        groups = {uid: y[rows] for uid, rows in df.groupby("unique_id").indices.items()}
        shortest = min(len(y) for y in groups.values())
        specs = [HarmonicSpec(k, trend) for k in range(self.max_harmonics + 1)
                 for trend in self.trend_options
                 if shortest - HarmonicSpec(k, trend).n_params - 1 >= 2]
        if not specs:
            raise ValueError(f"harmonic: a series of {shortest} values is too short to fit")
        by_length = _stack_by_length(groups)
        fits = {spec: [self._fit_group(values, spec) for _, values in by_length]
                for spec in specs}
        self.aicc_ = {spec: sum(per_series.sum() for _, per_series in fit)
                      for spec, fit in fits.items()}
        self.spec_ = min(self.aicc_, key=self.aicc_.get)
        # Per group of equal-length series: (ids, length, coefficients as columns).
        self.coefficients_ = [(ids, values.shape[1], coefficients) for (ids, values), (
            coefficients, _) in zip(by_length, fits[self.spec_], strict=True)]

    def _fit_group(self, values: np.ndarray, spec: HarmonicSpec
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Least squares for series of equal length at once: (coefficients, AICc per series)."""
        n = values.shape[1]
        x = design(np.arange(n, dtype=float), spec, self.season_length)
        coefficients, *_ = np.linalg.lstsq(x, values.T, rcond=None)
        rss = ((values.T - x @ coefficients) ** 2).sum(axis=0)
        return coefficients, aicc(rss, n, spec.n_params)

    def learned(self) -> dict[str, object]:
        return {"harmonics": self.spec_.harmonics, "trend": self.spec_.trend,
                "scale": "logit" if self.shares else "raw"}

    def predict(self, h: int, level: Sequence[int] = ()) -> pd.DataFrame:
        self._no_native_intervals(level)
        ids, parts = [], []
        for group_ids, length, coefficients in self.coefficients_:
            future = np.arange(length, length + h, dtype=float)
            parts.append((design(future, self.spec_, self.season_length) @ coefficients).T)
            ids.extend(group_ids)
        yhat = np.concatenate(parts)
        if self.shares:
            return self._frame(np.array(ids), expit(yhat), h)
        return from_unit_scale(self._frame(np.array(ids), yhat, h), self.units_)


def _stack_by_length(groups: dict[str, np.ndarray]) -> list[tuple[list[str], np.ndarray]]:
    """Series of equal length stacked into one matrix, so a group is one lstsq call."""
    lengths: dict[int, list[str]] = {}
    for uid, y in groups.items():
        lengths.setdefault(len(y), []).append(uid)
    return [(ids, np.stack([groups[uid] for uid in ids])) for ids in lengths.values()]
