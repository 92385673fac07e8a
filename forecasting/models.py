"""Forecasting models behind one contract: ``fit(df) -> self``, ``predict(h, level) -> df``.

``df`` is long format (``unique_id, ds, y``); ``predict`` returns ``unique_id, ds, model,
yhat`` plus ``yhat_lo_<L>`` / ``yhat_hi_<L>`` for each requested level. Hyperparameters are
set in ``__init__``; learned state lives in attributes ending in ``_`` (statsforecast's
convention, so the classes read alike). Models without intervals of their own raise when
asked for them: wrap them in :class:`forecasting.intervals.Conformal`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from forecasting import frequency
from forecasting.features import (
    SeriesMatrix,
    feature_names,
    origin_features,
    target_base,
    training_rows,
)

# A series with at least this share of zeros is intermittent: the global model declines it.
INTERMITTENT_ZEROS = 0.5


def interval_columns(levels: Sequence[int]) -> list[str]:
    return [f"yhat_{side}_{lv}" for lv in levels for side in ("lo", "hi")]


class Forecaster(ABC):
    alias: str
    # Imported lazily (the command line's help must not wait for them); see ``load``.
    libraries: ClassVar[tuple[str, ...]] = ()

    def __init__(self, season_length: int, freq: str | None = None) -> None:
        self.season_length = season_length
        self.freq = freq

    @classmethod
    def load(cls) -> None:
        """Import the model's libraries now, so that timing a fit measures only the fit.

        Otherwise the first model timed pays for the import (over a second for statsforecast)
        and looks like the slowest when it is the cheapest.
        """
        for name in cls.libraries:
            importlib.import_module(name)

    def fit(self, df: pd.DataFrame) -> Self:
        self.freq_ = self.freq or _infer_frequency(df)
        self.last_ds_ = df.groupby("unique_id")["ds"].max()
        self._fit(df)
        return self

    @abstractmethod
    def _fit(self, df: pd.DataFrame) -> None: ...

    @abstractmethod
    def predict(self, h: int, level: Sequence[int] = ()) -> pd.DataFrame: ...

    def learned(self) -> dict[str, object]:
        """What fitting chose, in plain JSON types (for MLflow and the command's summary)."""
        return {}

    def _frame(self, ids: np.ndarray, yhat: np.ndarray, h: int) -> pd.DataFrame:
        """Long forecasts from a (series x horizon) array; ids in ``last_ds_`` order."""
        # Series mostly share their last date: step each distinct one forward once.
        last, which = np.unique(self.last_ds_.loc[ids].to_numpy(), return_inverse=True)
        steps = np.stack([frequency.future_dates(d, h, self.freq_).to_numpy() for d in last])
        ds = steps[which].reshape(-1)
        return pd.DataFrame({"unique_id": np.repeat(ids, h), "ds": ds, "model": self.alias,
                             "yhat": yhat.reshape(-1)})

    def _no_native_intervals(self, level: Sequence[int]) -> None:
        if level:
            raise ValueError(f"{self.alias} has no intervals of its own; "
                             "wrap it in forecasting.intervals.Conformal")


def to_unit_scale(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Each series divided by its largest absolute value (1 if all zero), and those units.

    For models fitted with absolute tolerances (statsforecast's optimisers, a least-squares
    floor): on raw values their forecasts depend on the units y is in (Theta's moved by 0.4% to
    2% with them) and values near the float limit overflow. Every model here is equivariant
    under a positive scale, so scaling back is exact.
    """
    units = df["y"].abs().groupby(df["unique_id"], observed=True).max()
    units = units.where(units > 0, 1.0)
    return df.assign(y=df["y"] / df["unique_id"].map(units).to_numpy(float)), units


def from_unit_scale(forecasts: pd.DataFrame, units: pd.Series) -> pd.DataFrame:
    """Forecasts (``yhat`` and any interval bounds) back in each series' own units."""
    factor = forecasts["unique_id"].map(units).to_numpy(float)
    values = [c for c in forecasts.columns if c.startswith("yhat")]
    return forecasts.assign(**{c: forecasts[c].to_numpy() * factor for c in values})


def _infer_frequency(df: pd.DataFrame) -> str:
    first = df.sort_values("ds").groupby("unique_id")["ds"]
    for _, dates in first:
        freq = frequency.infer(dates)
        if freq:
            return freq
    raise ValueError("cannot infer the frequency from the data; pass freq")


class StatsModel(Forecaster):
    """A statsforecast model (seasonal naive, ETS, Theta, ARIMA) on every series.

    statsforecast is the reference implementation practitioners use, so the peers in our
    benchmarks are exactly what they would run; its models bring their own intervals.
    ``max_history`` fits on each series' most recent values only: local models assume
    stable dynamics, which decades of retail history do not have (and it is cheaper).

    ``seasonal_ets`` is one fixed exponential-smoothing form instead of AutoETS's search:
    ETS(M,N,M), multiplicative seasonality around a smoothed level, the classic shape of
    retail demand, at a fraction of AutoETS's cost. A series it cannot fit gets the nearest
    form that it can: ETS(A,N,A) when a value is zero or negative (multiplicative forms
    need positive data), simple exponential smoothing ETS(A,N,N) when it has fewer than two
    seasons (too few values to estimate a seasonal state per period) or there is no season
    (season length 1). ``optimized_theta`` is likewise the one Theta form (OTM) that AutoTheta
    picks for most apparel series, without fitting the other three to compare.

    Each series is fitted in units of its largest value (``unit_scale``; see
    :func:`to_unit_scale`); ``unit_scale=False`` hands statsforecast the raw values, exactly
    as a practitioner would (the benchmark's peers). A series the model cannot fit
    (statsforecast raises for it: e.g. ETS on too few values for its parameters) is declined
    rather than failing every series: it gets no forecast from this model, and the engine
    combines the other models for it or gives it the fallback.
    """

    # The registry (``forecasting.registry``) names these; here is how each is built.
    KINDS = ("seasonal_naive", "auto_ets", "auto_theta", "auto_arima", "seasonal_ets",
             "optimized_theta")
    libraries = ("statsforecast.models", "forecasting.statsforecast_pool")
    # Where statsforecast keeps the per-series choice of the automatic models.
    SPEC_KEYS: ClassVar[dict[str, str]] = {"auto_ets": "method", "auto_theta": "modeltype",
                                           "seasonal_ets": "method"}

    def __init__(self, kind: str, season_length: int, freq: str | None = None,
                 n_jobs: int = 1, max_history: int | None = None,
                 unit_scale: bool = True) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown statsforecast model {kind!r}; one of {self.KINDS}")
        super().__init__(season_length, freq)
        self.kind, self.alias, self.n_jobs = kind, kind, n_jobs
        self.max_history, self.unit_scale = max_history, unit_scale

    def _model(self, ets_form: str | None):
        from statsforecast import models

        m = self.season_length
        return {"seasonal_naive": lambda: models.SeasonalNaive(m, alias=self.alias),
                "auto_ets": lambda: models.AutoETS(season_length=m, alias=self.alias),
                "auto_theta": lambda: models.AutoTheta(season_length=m, alias=self.alias),
                "auto_arima": lambda: models.AutoARIMA(season_length=m, alias=self.alias),
                "seasonal_ets": lambda: models.AutoETS(season_length=m, model=ets_form,
                                                       alias=self.alias),
                "optimized_theta": lambda: models.OptimizedTheta(season_length=m,
                                                                 alias=self.alias),
                }[self.kind]()

    def _fit(self, df: pd.DataFrame) -> None:
        from statsforecast import models

        from forecasting.statsforecast_pool import StoppableStatsForecast

        df = df[["unique_id", "ds", "y"]]
        if self.max_history:
            df = df.sort_values(["unique_id", "ds"]).groupby("unique_id").tail(self.max_history)
        self.units_ = None
        if self.unit_scale:
            df, self.units_ = to_unit_scale(df)
        groups = self._ets_forms(df) if self.kind == "seasonal_ets" else {None: df}
        # statsforecast fits its fallback model to any series the model raises on; such a
        # series is then declined (below) instead of failing the whole panel.
        self.fits_ = [StoppableStatsForecast(models=[self._model(form)], freq=self.freq_,
                                    n_jobs=self.n_jobs, fallback_model=models.Naive()).fit(part)
                      for form, part in groups.items()]
        self.declined_ = [str(uid) for sf in self.fits_ for uid, fitted in
                          zip(sf.uids, sf.fitted_[:, 0], strict=True)
                          if isinstance(fitted, models.Naive)]
        if len(self.declined_) == sum(len(sf.uids) for sf in self.fits_):
            raise ValueError(f"{self.alias}: statsforecast could fit none of the series")

    def _ets_forms(self, df: pd.DataFrame) -> dict[str | None, pd.DataFrame]:
        """The series for each ETS form (see the class docstring), only forms that are used."""
        per_series = df.groupby("unique_id")["y"].agg(["min", "size"])
        no_season = (per_series["size"] < 2 * self.season_length) | (self.season_length < 2)
        form = np.where(no_season, "ANN", np.where(per_series["min"] > 0, "MNM", "ANA"))
        by_series = pd.Series(form, index=per_series.index)
        return {f: df[df["unique_id"].map(by_series) == f] for f in np.unique(form)}

    def learned(self) -> dict[str, object]:
        """How many series got each specification, e.g. ``{"ETS(M,N,M)": 20, ...}``."""
        declined = {"declined": len(self.declined_)} if self.declined_ else {}
        key = self.SPEC_KEYS.get(self.kind)
        if key is None:
            return declined
        from statsforecast.models import Naive

        specs = pd.Series([fitted.model_[key] for sf in self.fits_ for fitted in sf.fitted_[:, 0]
                           if not isinstance(fitted, Naive)])
        return {"specs": {str(k): int(v) for k, v in specs.value_counts().items()}} | declined

    def predict(self, h: int, level: Sequence[int] = ()) -> pd.DataFrame:
        raw = pd.concat([sf.predict(h=h, level=list(level) or None) for sf in self.fits_],
                        ignore_index=True)
        out = pd.DataFrame({"unique_id": raw["unique_id"].to_numpy(), "ds": raw["ds"],
                            "model": self.alias, "yhat": raw[self.alias].to_numpy()})
        for lv in level:
            out[f"yhat_lo_{lv}"] = raw[f"{self.alias}-lo-{lv}"].to_numpy()
            out[f"yhat_hi_{lv}"] = raw[f"{self.alias}-hi-{lv}"].to_numpy()
        if self.declined_:
            out = out[~out["unique_id"].astype(str).isin(self.declined_)]
        return out if self.units_ is None else from_unit_scale(out, self.units_)


class WindowAverage(Forecaster):
    """Mean of the last ``window`` values: the fallback for series too short for seasons."""

    alias = "window_average"

    def __init__(self, season_length: int, freq: str | None = None, window: int = 6) -> None:
        super().__init__(season_length, freq)
        self.window = window

    def _fit(self, df: pd.DataFrame) -> None:
        tail = df.sort_values("ds").groupby("unique_id").tail(self.window)
        self.mean_ = tail.groupby("unique_id")["y"].mean()

    def learned(self) -> dict[str, object]:
        return {"window": self.window}

    def predict(self, h: int, level: Sequence[int] = ()) -> pd.DataFrame:
        self._no_native_intervals(level)
        ids = self.mean_.index.to_numpy()
        return self._frame(ids, np.repeat(self.mean_.to_numpy()[:, None], h, axis=1), h)


class GlobalGBM(Forecaster):
    """One gradient-boosted model for all series: direct multi-step on scaled lag features.

    Direct (the horizon is a feature) rather than recursive, so errors do not compound over
    the horizon; trained across every series at once, so short, noisy series borrow
    strength from the others (pooling). scikit-learn's HistGradientBoostingRegressor: no
    extra dependency, native NaN handling for the left-padding of short series, and an
    absolute-error loss that targets the median, which is what MASE rewards. 100 boosting
    rounds: on the benchmark's development origins the default ensemble was as accurate as
    with 150, at two thirds of this model's cost (the largest part of the default's).

    ``n_jobs`` bounds its OpenMP threads (scikit-learn otherwise takes every core): an
    Airflow worker runs several tasks at once, and on the small training sets of most panels
    a second thread mostly spins, costing CPU time for little wall time.
    """

    alias = "global_gbm"
    libraries = ("sklearn.ensemble",)

    def __init__(self, season_length: int, freq: str | None = None, max_horizon: int | None = None,
                 n_lags: int | None = None, max_origins: int = 480, max_rows: int = 60_000,
                 max_iter: int = 100, learning_rate: float = 0.1, max_leaf_nodes: int = 15,
                 min_samples_leaf: int = 20, loss: str = "absolute_error",
                 relative_to: str = "season", seed: int = 0, n_jobs: int = 1) -> None:
        super().__init__(season_length, freq)
        self.n_jobs = n_jobs
        self.max_horizon = max_horizon or season_length
        self.n_lags = n_lags or season_length
        self.max_origins, self.max_rows = max_origins, max_rows
        self.max_iter, self.learning_rate = max_iter, learning_rate
        self.max_leaf_nodes, self.min_samples_leaf = max_leaf_nodes, min_samples_leaf
        self.loss, self.relative_to, self.seed = loss, relative_to, seed

    def _fit(self, df: pd.DataFrame) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor

        matrix = SeriesMatrix.from_long(df, self.freq_)
        # Every feature and target is a ratio to a positive level, which a series with
        # negative values does not have. A series that is zero at least half the time
        # (intermittent demand) gives mostly zero targets: once those are half the training
        # rows, the median loss's gradients are all alike, no split gains anything and every
        # forecast stays at 0, for the regular series too. Both kinds get no forecast here
        # (the ensembles combine the other members for them) instead of a meaningless one.
        negative = (matrix.values < 0).any(axis=1)
        if negative.all():
            raise ValueError("global_gbm: every series has negative values, and it scales "
                             "each series by a positive level")
        known = (~np.isnan(matrix.values)).sum(axis=1)
        intermittent = (matrix.values == 0).sum(axis=1) >= INTERMITTENT_ZEROS * known
        declined = negative | intermittent
        if declined.all():
            raise ValueError("global_gbm: every series is zero at least half the time or has "
                             "negative values; it learns ratios to a positive level")
        self.declined_ = [str(uid) for uid in matrix.ids[declined]]
        self.matrix_ = matrix.rows(np.flatnonzero(~declined))
        m = self.season_length
        n_lags = min(self.n_lags, self.matrix_.values.shape[1])
        self.n_lags_ = n_lags
        features, target = training_rows(
            self.matrix_, self.max_horizon, m, n_lags, min_history=max(3, m // 2),
            max_origins=self.max_origins, max_rows=self.max_rows, relative_to=self.relative_to,
            rng=np.random.default_rng(self.seed))
        # scikit-learn cannot bin a column with no value at all (all lags beyond the data).
        self.empty_columns_ = np.isnan(features).all(axis=0)
        features[:, self.empty_columns_] = 0.0
        if len(target) == 0:
            raise ValueError("global_gbm: no series is long enough to learn from")
        # The targets are ratios near 1. Rounded to 1e-9 they are the same whatever units y is
        # in: with the absolute-error loss, a target one rounding error off the current median
        # flips the sign of its gradient, which moved forecasts 2% between sales counted in
        # units and in thousands.
        target = np.round(target, 9)
        season_column = len(feature_names(n_lags)) - 1
        self.model_ = HistGradientBoostingRegressor(
            loss=self.loss, max_iter=self.max_iter, learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
            l2_regularization=1.0, categorical_features=[season_column] if m <= 255 else None,
            early_stopping=False, random_state=self.seed)
        with threadpool_limits(self.n_jobs, user_api="openmp"):
            self.model_.fit(features, target)
        self.n_train_rows_ = len(target)

    def learned(self) -> dict[str, object]:
        learned = {"train_rows": self.n_train_rows_, "lags": self.n_lags_,
                   "relative_to": self.relative_to}
        return learned | ({"declined": len(self.declined_)} if self.declined_ else {})

    def predict(self, h: int, level: Sequence[int] = ()) -> pd.DataFrame:
        self._no_native_intervals(level)
        if h > self.max_horizon:
            raise ValueError(f"global_gbm was trained for horizons up to {self.max_horizon}")
        origin = np.array([self.matrix_.values.shape[1] - 1])
        # Every horizon's rows in one predict call: the trees' per-call overhead, not the
        # rows, dominates on small panels.
        steps = [origin_features(self.matrix_, origin, k, self.season_length, self.n_lags_)
                 for k in range(1, h + 1)]
        features = np.concatenate([f for f, _ in steps])
        features[:, self.empty_columns_] = 0.0
        base = target_base(features, np.concatenate([lvl for _, lvl in steps]),
                           self.relative_to)
        # A series whose last season is all zeros stays at zero (it has no base).
        with threadpool_limits(self.n_jobs, user_api="openmp"):
            yhat = np.nan_to_num(self.model_.predict(features) * base, nan=0.0)
        return self._frame(self.matrix_.ids, yhat.reshape(h, -1).T, h)


class Ensemble(Forecaster):
    """Combine members' forecasts: the median, or a weighted mean (weights from backtests)."""

    alias = "ensemble"

    def __init__(self, members: Sequence[Forecaster], weights: Sequence[float] | None = None,
                 alias: str = "ensemble") -> None:
        super().__init__(members[0].season_length, members[0].freq)
        self.members, self.weights, self.alias = list(members), weights, alias

    def _fit(self, df: pd.DataFrame) -> None:
        for member in self.members:
            member.fit(df)

    def learned(self) -> dict[str, object]:
        return {m.alias: m.learned() for m in self.members}

    def predict(self, h: int, level: Sequence[int] = ()) -> pd.DataFrame:
        self._no_native_intervals(level)
        parts = pd.concat([m.predict(h) for m in self.members])
        return combine(parts, self.weights and dict(
            zip([m.alias for m in self.members], self.weights, strict=True)), self.alias)


def combine(forecasts: pd.DataFrame, weights: dict[str, float] | None, alias: str,
            keys: Sequence[str] = ("unique_id", "ds")) -> pd.DataFrame:
    """Median (no weights) or weighted mean of several models' ``yhat`` per key."""
    wide = forecasts.pivot_table(index=list(keys), columns="model", values="yhat",
                                 aggfunc="first")
    if weights:
        w = pd.Series(weights).reindex(wide.columns).fillna(0.0)
        # Over the members that forecast each key: a model may decline some series.
        yhat = (wide * w).sum(axis=1) / wide.notna().mul(w).sum(axis=1)
    else:
        yhat = wide.median(axis=1)
    out = yhat.rename("yhat").reset_index()
    out.insert(len(keys), "model", alias)
    return out
