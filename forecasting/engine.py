"""The forecasting engine: backtest candidates, choose from backtests only, forecast, score.

Pure: DataFrames in, DataFrames out, no file or MLflow I/O (``forecasting.run`` does that).
The choice between models (or ensembles of them) uses the rolling-origin windows inside
the data it is given, so evaluating on data held out from it is an honest test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting import calls, data, intervals, metrics, registry
from forecasting.backtest import cross_validation
from forecasting.models import (
    Forecaster,
    WindowAverage,
    combine,
    interval_columns,
)
from forecasting.registry import BASE_MODELS, DEFAULT_CANDIDATES
from pipeline.core.errors import UnusableInputError

ENSEMBLES = ("ensemble_mean", "ensemble_median", "ensemble_weighted")
# Specialists are backtested and can be chosen, but stay out of the ensembles: a fixed smooth
# seasonal shape wins on short noisy panels and fails badly on long trending ones, and a
# combination is only robust across members that are each reasonable everywhere.
SPECIALISTS = ("harmonic",)
# The median of the other candidates is the default pick: with a few backtest windows,
# estimated weights or a single "winner" are mostly noise (the forecast-combination puzzle),
# and with four members the median (the mean of the middle two) also shrugs off the one
# member that fails on a series. Another model replaces it only when its backtest MASE is
# clearly lower.
DEFAULT_PICK = "ensemble_median"
SWITCH_MARGIN = 0.10
FALLBACK_MODEL = "window_average"


@dataclass(frozen=True)
class ForecastConfig:
    horizon: int
    season_length: int
    freq: str | None = None
    levels: tuple[int, ...] = (80, 95)
    windows: int = 3
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES
    gaps: str = "reject"
    shares: bool = False
    n_jobs: int = 1     # cores: statsforecast's worker processes, the global model's threads
    history_seasons: int | None = 10   # statistical candidates see this many recent seasons
    seed: int = 0
    trend: calls.TrendConfig = field(default_factory=calls.TrendConfig)

    def __post_init__(self) -> None:
        unknown = [m for m in self.candidates if m not in BASE_MODELS]
        if unknown:
            raise UnusableInputError(f"unknown model(s) {', '.join(unknown)}; "
                                     f"choose from {', '.join(BASE_MODELS)}")
        if self.horizon < 1 or self.windows < 1 or self.n_jobs < 1:
            raise UnusableInputError("horizon, windows and jobs must be >= 1")
        if any(not 0 < lv < 100 for lv in self.levels):
            raise UnusableInputError(f"levels must lie strictly between 0 and 100: {self.levels}")

    @property
    def ensemble_members(self) -> tuple[str, ...]:
        """The candidates that are combined; with fewer than two generalists, all of them."""
        generalists = tuple(m for m in self.candidates if m not in SPECIALISTS)
        return generalists if len(generalists) > 1 else self.candidates

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        return (0.0, 1.0) if self.shares else (None, None)


@dataclass
class BacktestResult:
    rows: pd.DataFrame                  # every model's backtest forecasts, with intervals
    table: pd.DataFrame                 # one row per model: metrics, coverage, seconds
    weights: dict[str, float]           # ensemble_weighted's member weights
    skipped: list[str]

    def best(self) -> str:
        """The default pick, unless another model beats it clearly and consistently.

        Clearly: overall backtest MASE lower by the margin. Consistently: lower in every
        window, so one lucky window cannot flip the choice.
        """
        mase = self.table.set_index("model")["mase"]
        # Only a model that forecast every series in every window can stand alone: a lower
        # MASE over fewer series is no comparison, and it would leave series unforecast.
        rows_per_model = self.rows.groupby("model").size()
        mase = mase[rows_per_model.reindex(mase.index) == rows_per_model.max()]
        leader = str(mase.idxmin())
        if DEFAULT_PICK not in mase:
            return leader
        per_window = metrics.per_window_mase(self.rows).unstack("model")
        consistent = bool((per_window[leader] < per_window[DEFAULT_PICK]).all())
        clear = mase[leader] < (1 - SWITCH_MARGIN) * mase[DEFAULT_PICK]
        return leader if clear and consistent else DEFAULT_PICK


def backtest(series: pd.DataFrame, freq: str, config: ForecastConfig,
             models: Sequence[str] | None = None) -> BacktestResult:
    models = list(models or config.candidates)
    cv = cross_validation([registry.build(m, config, freq) for m in models], series,
                          config.horizon, config.windows)
    rows = cv.forecasts
    backtested = set(rows["model"])   # a candidate the panel does not suit has no rows
    members = [m for m in config.ensemble_members if m in backtested]
    member_rows = rows[rows["model"].isin(members)]
    weights = _inverse_mase_weights(member_rows)
    if len(members) > 1:
        rows = pd.concat([rows, *_ensemble_rows(member_rows, weights)], ignore_index=True)
    rows = _cross_conformal(rows, config.levels, config.bounds)
    table = metrics.table(rows, config.levels)
    table["seconds"] = table["model"].map(
        lambda m: cv.seconds.get(m, sum(cv.seconds.get(x, 0.0) for x in models)))
    return BacktestResult(rows, table, weights, cv.skipped)


def _inverse_mase_weights(rows: pd.DataFrame) -> dict[str, float]:
    mase = metrics.table(rows).set_index("model")["mase"]
    inverse = 1 / mase.clip(lower=1e-6)
    return (inverse / inverse.sum()).to_dict()


def _ensemble_rows(rows: pd.DataFrame, weights: dict[str, float]) -> list[pd.DataFrame]:
    truth = rows.drop_duplicates(["unique_id", "ds", "cutoff"]).drop(columns=["model", "yhat"])
    keys = ("unique_id", "ds", "cutoff")
    return [truth.merge(combine(rows, w, alias, keys), on=list(keys))
            for alias, w in _ensemble_weights(weights)]


def _ensemble_weights(weights: dict[str, float]) -> list[tuple[str, dict[str, float] | None]]:
    return [("ensemble_mean", dict.fromkeys(weights, 1.0)), ("ensemble_median", None),
            ("ensemble_weighted", weights)]


def _cross_conformal(rows: pd.DataFrame, levels: Sequence[int],
                     bounds: tuple[float | None, float | None]) -> pd.DataFrame:
    """Intervals for each window calibrated on the other windows (leave one window out)."""
    cutoffs = rows["cutoff"].unique()
    if len(cutoffs) < 2 or not levels:
        return rows.assign(**{c: np.nan for c in interval_columns(levels)})
    parts = []
    for cutoff in cutoffs:
        held = rows["cutoff"] == cutoff
        quantiles = intervals.calibrate(rows[~held], levels)
        window = rows[held]
        scales = window.drop_duplicates("unique_id").set_index("unique_id")["scale"]
        parts.append(intervals.apply(window, quantiles, scales, levels, bounds))
    return pd.concat(parts, ignore_index=True)


@dataclass
class ForecastResult:
    forecasts: pd.DataFrame     # the forecasts contract
    chosen: str
    backtest: BacktestResult | None
    trends: pd.DataFrame
    problems: pd.DataFrame
    freq: str
    models: dict[str, dict[str, object]]   # what each fitted model chose (Forecaster.learned)


def prepare(raw: pd.DataFrame, config: ForecastConfig, source: str = "input"
            ) -> data.PreparedSeries:
    return data.prepare(raw, config.season_length, config.freq, config.gaps, config.shares,
                        source)


def forecast(raw: pd.DataFrame, config: ForecastConfig, all_models: bool = False,
             source: str = "input") -> ForecastResult:
    return forecast_prepared(prepare(raw, config, source), config, all_models)


def forecast_prepared(prepared: data.PreparedSeries, config: ForecastConfig,
                      all_models: bool = False) -> ForecastResult:
    freq, series = prepared.freq, prepared.series
    fallback_series, problems = prepared.fallback, prepared.problems
    parts, chosen, bt, fitted = [], FALLBACK_MODEL, None, []
    history = pd.concat([series, prepared.fallback])   # every series that gets a forecast
    scales = intervals.series_scales(history, config.season_length)
    if not series.empty:
        bt = backtest(series, freq, config)
        chosen = bt.best()
        fitted = _fit_members(series, freq, config, chosen, all_models, set(bt.table["model"]))
        predicted = intervals.with_steps(pd.concat([m.predict(config.horizon) for m in fitted]))
        if chosen in ENSEMBLES or all_models:
            member_rows = predicted[predicted["model"].isin(bt.weights)]
            predicted = pd.concat([predicted, _ensembles(member_rows, bt.weights)],
                                  ignore_index=True)
        keep = predicted if all_models else predicted[predicted["model"] == chosen]
        quantiles = intervals.calibrate(bt.rows, config.levels)
        parts.append(intervals.apply(keep, quantiles, scales, config.levels, config.bounds))
        # A model may decline series (the global model those with negative values): they
        # get the fallback rather than silently no forecast.
        forecast_ids = set(predicted.loc[predicted["model"] == chosen, "unique_id"])
        declined = series[~series["unique_id"].isin(forecast_ids)]
        if not declined.empty:
            fallback_series = pd.concat([fallback_series, declined], ignore_index=True)
            problems = pd.concat([problems, data.problem_rows(
                declined["unique_id"].unique(), "declined", "fallback",
                f"series {{uid}}: {chosen} gives it no forecast; forecast by "
                f"{FALLBACK_MODEL}")], ignore_index=True)
    if not fallback_series.empty:
        fallback = WindowAverage(config.season_length, freq, window=config.season_length)
        parts.append(_fallback(fallback.fit(fallback_series), config, scales, bt))
        fitted.append(fallback)
    forecasts = pd.concat(parts, ignore_index=True).drop(columns="step")
    forecasts = forecasts[["unique_id", "ds", "model", "yhat", *interval_columns(config.levels)]]
    default = forecasts[forecasts["model"].isin([chosen, FALLBACK_MODEL])]
    trends = _calls(series, fallback_series, default, chosen, bt, config, freq)
    return ForecastResult(forecasts.reset_index(drop=True), chosen, bt, trends,
                          problems, freq, {m.alias: m.learned() for m in fitted})


def _calls(series: pd.DataFrame, fallback_series: pd.DataFrame, forecasts: pd.DataFrame,
           chosen: str, bt: BacktestResult | None, config: ForecastConfig,
           freq: str) -> pd.DataFrame:
    """Each series' call, its chances from the backtest outcomes of the model that forecast it.

    Short series are backtested with the fallback on windows of their own; when even that
    is impossible they borrow the modelled series' error spread, and without either they
    get a call and no chance.
    """
    m = config.season_length
    modelled = (calls.backtest_outcomes(series, bt.rows[bt.rows["model"] == chosen], m, freq)
                if bt else None)
    fallback = _fallback_outcomes(fallback_series, config, freq)
    fallback_ids = set(fallback_series["unique_id"])
    history = pd.concat([series, fallback_series]).drop_duplicates(["unique_id", "ds"])
    noise = calls.noise_scales(history, m)
    parts = []
    for ids, outcomes, borrowed in (
            (set(series["unique_id"]) - fallback_ids, modelled, set()),
            (fallback_ids, fallback if fallback is not None else modelled,
             set() if fallback is not None else fallback_ids)):
        mine = forecasts[forecasts["unique_id"].isin(ids)]
        if mine.empty:
            continue
        calibrated = (calls.calibration(outcomes, config.trend.threshold)
                      if outcomes is not None else calls.Calibration())
        parts.append(calls.make(history[history["unique_id"].isin(ids)], mine, m, freq,
                                noise, outcomes, config.trend,
                                borrowed, calibrated))
    return calls.mark_emerging(pd.concat(parts, ignore_index=True), config.trend)


def _fallback_outcomes(fallback_series: pd.DataFrame, config: ForecastConfig,
                       freq: str) -> pd.DataFrame | None:
    """The fallback's backtest outcomes on the short series' own windows (None without any)."""
    m = config.season_length
    varying = fallback_series.groupby("unique_id")["y"].transform("nunique") > 1
    usable = fallback_series[varying]
    if usable.empty:
        return None
    model = WindowAverage(m, freq, window=m)
    try:
        cv = cross_validation([model], usable, config.horizon, config.windows, min_train=m)
    except UnusableInputError:   # too short for even one window
        return None
    outcomes = calls.backtest_outcomes(usable, cv.forecasts, m, freq)
    return None if outcomes.empty else outcomes


def _fit_members(series: pd.DataFrame, freq: str, config: ForecastConfig, chosen: str,
                 all_models: bool, backtested: set[str]) -> list[Forecaster]:
    """Fit what the forecast needs, among the models that survived the backtest."""
    needed = (config.candidates if all_models else
              config.ensemble_members if chosen in ENSEMBLES else (chosen,))
    return [registry.build(m, config, freq).fit(series) for m in needed if m in backtested]


def _ensembles(members: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    steps = members.drop_duplicates(["unique_id", "ds"])[["unique_id", "ds", "step"]]
    return pd.concat([combine(members, w, alias).merge(steps, on=["unique_id", "ds"])
                      for alias, w in _ensemble_weights(weights)], ignore_index=True)


def _fallback(model: WindowAverage, config: ForecastConfig, scales: pd.Series,
              bt: BacktestResult | None) -> pd.DataFrame:
    """Short or constant series: window average, with intervals borrowed from the backtest."""
    predicted = intervals.with_steps(model.predict(config.horizon))
    if bt is None:
        return predicted.assign(**{c: np.nan for c in interval_columns(config.levels)})
    pooled = intervals.calibrate(bt.rows.assign(model=FALLBACK_MODEL, step=1), config.levels)
    quantiles = pooled.drop(columns="step").merge(predicted[["step"]].drop_duplicates(),
                                                  how="cross")
    return intervals.apply(predicted, quantiles, scales, config.levels, config.bounds)
