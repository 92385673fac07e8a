"""Small generated series for forecasting tests, and a dummy model that follows the contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pandas as pd

from forecasting.models import Forecaster


def seasonal_panel(n_series: int = 6, periods: int = 72, season: int = 12, noise: float = 0.02,
                   growth: Sequence[float] | None = None, seed: int = 0,
                   freq: str = "MS", start: str = "2015-01-01") -> pd.DataFrame:
    """Series of very different scales sharing one seasonal shape, with per-series growth."""
    rng = np.random.default_rng(seed)
    t = np.arange(periods)
    shape = 1 + 0.4 * np.sin(2 * np.pi * t / season)
    growth = growth if growth is not None else rng.uniform(-0.01, 0.01, n_series)
    frames = []
    for i in range(n_series):
        scale = 10.0 ** rng.uniform(0, 3)
        y = scale * shape * (1 + growth[i]) ** t * rng.lognormal(0, noise, periods)
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range(
            start, periods=periods, freq=freq), "y": y}))
    return pd.concat(frames, ignore_index=True)


class LastValue(Forecaster):
    """A dummy model following the contract; it records the data it was fitted on."""

    alias = "last_value"
    seen: ClassVar[list[pd.DataFrame]] = []

    def _fit(self, df: pd.DataFrame) -> None:
        LastValue.seen.append(df.copy())
        self.last_ = df.sort_values("ds").groupby("unique_id")["y"].last()

    def predict(self, h: int, level: Sequence[int] = ()) -> pd.DataFrame:
        self._no_native_intervals(level)
        ids = self.last_.index.to_numpy()
        return self._frame(ids, np.repeat(self.last_.to_numpy()[:, None], h, axis=1), h)
