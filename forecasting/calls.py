"""Trend calls: rising, stable or declining, with a chance that holds.

A call compares a series' forecast total over the horizon with the same periods one season
earlier (HERMES's three classes, +-5%). What makes it trustworthy is measured on the
engine's own backtest windows, where each call's outcome is known:

- **Chance from outcomes.** Every backtest window gives a forecast growth and the growth
  that happened. Their difference, in units of the series' own noise (the spread of its
  seasonal differences over the base total), is pooled over the panel; a series' chances
  are the shares of those errors that, added to its forecast growth, land in each class.
- **Calibrated where the backtest can say so.** With enough outcomes, a line through
  (forecast growth, actual growth) recentres the calls of a model that damps or
  overshoots trends, and the pooled errors are widened, narrowed or shrunk towards the
  uniform guess, whichever held best on windows left out of the fit (:func:`calibration`).
- **Never certain.** The shares are smoothed towards a uniform guess by a pseudo-outcome,
  so a chance of 0 or 1 is never stated: a handful of windows cannot rule an outcome out.
- **Short histories.** The fallback model's own backtest on the short series gives their
  errors; without one they borrow the modelled series' errors; with neither, the call is
  made with its reason and no chance.

Past calls are graded once their horizon has passed (:func:`grade`), the track record an
analyst reads (:func:`track_record`, :func:`reliability`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting import frequency

LABELS = ("declining", "stable", "rising")
# Pseudo-outcomes of the uniform guess added to the pooled errors: with 40 errors, the
# surest chance is 0.98, not 1; with 4, 0.83.
PRIOR_OUTCOMES = 1.0


@dataclass(frozen=True)
class TrendConfig:
    threshold: float = 0.05          # +-5% against a season earlier: HERMES's stable band
    low_base_quantile: float = 0.25  # "emerging": rising from the lowest quarter of levels


def label(growth: np.ndarray | pd.Series, threshold: float = 0.05) -> np.ndarray:
    growth = np.asarray(growth, dtype=float)
    return np.where(growth > threshold, "rising",
                    np.where(growth < -threshold, "declining", "stable"))


def season_totals(history: pd.DataFrame, forecasts: pd.DataFrame, season_length: int,
                  freq: str, keys: tuple[str, ...] = ("unique_id",)) -> pd.DataFrame:
    """Per ``keys``: forecast total (``yhat``), actual total (``y`` when the rows carry it),
    the actual total a season earlier, and the number of steps compared.

    Only steps whose same period last season is observed count.
    """
    hist = history.assign(period=frequency.period_index(history["ds"], freq))
    fc = forecasts.assign(period=frequency.period_index(forecasts["ds"], freq) - season_length)
    base = hist[["unique_id", "period", "y"]].rename(columns={"y": "base"})
    joined = fc.merge(base, on=["unique_id", "period"])
    sums = {"forecast_total": ("yhat", "sum"), "base_total": ("base", "sum"),
            "steps": ("base", "size")}
    if "y" in joined.columns:
        sums["actual_total"] = ("y", "sum")
    return joined.groupby(list(keys)).agg(**sums)


def growth(total: pd.Series, base_total: pd.Series) -> pd.Series:
    return total / base_total.where(base_total > 0) - 1


def backtest_outcomes(history: pd.DataFrame, rows: pd.DataFrame, season_length: int,
                      freq: str) -> pd.DataFrame:
    """Per (model, series, window) of a backtest: forecast growth, actual growth and the
    noise (what :class:`Calibration` divides the errors by)."""
    if rows.empty:
        return pd.DataFrame(columns=["model", "unique_id", "cutoff", "forecast_growth",
                                     "actual_growth", "noise"])
    totals = season_totals(history, rows, season_length, freq,
                           keys=("model", "unique_id", "cutoff"))
    # Each window's noise from what was observed up to its cutoff.
    scales = pd.concat({cutoff: noise_scales(history[history["ds"] <= cutoff], season_length)
                        for cutoff in rows["cutoff"].unique()}, names=["cutoff", "unique_id"])
    scale = pd.Series(scales.reindex(pd.MultiIndex.from_arrays(
        [totals.index.get_level_values("cutoff"), totals.index.get_level_values("unique_id")]
    )).to_numpy(), index=totals.index)
    out = totals.assign(forecast_growth=growth(totals["forecast_total"], totals["base_total"]),
                        actual_growth=growth(totals["actual_total"], totals["base_total"]),
                        noise=noise(scale, totals["steps"], totals["base_total"]))
    return out.reset_index()


def noise_scales(history: pd.DataFrame, season_length: int) -> pd.Series:
    """Per series: the mean absolute deviation of its seasonal differences from their mean.

    MASE's scale (the mean absolute seasonal difference) also counts a steady trend as
    noise, so a trending series would look noisier than it is; the deviations from the
    mean difference leave the trend out.
    """
    def deviation(y: pd.Series) -> float:
        values = y.to_numpy(float)
        lag = season_length if len(values) > season_length else 1
        diffs = values[lag:] - values[:-lag]
        return float(np.abs(diffs - diffs.mean()).mean()) if len(diffs) else float("nan")

    return history.sort_values("ds").groupby("unique_id")["y"].apply(deviation)


def noise(scale: pd.Series, steps: pd.Series, base_total: pd.Series) -> pd.Series:
    """How much a series' growth moves by noise alone: its noise scale x steps / base."""
    return (scale * steps / base_total.where(base_total > 0)).where(scale > 0)


def chances(forecast_growth: np.ndarray, spread: np.ndarray, errors: np.ndarray,
            threshold: float) -> np.ndarray:
    """(series x 3) chances of declining / stable / rising, smoothed towards uniform.

    ``errors`` are pooled scaled growth errors; ``spread`` is each series' noise. A series
    without a spread (or with no errors at all) gets NaN.
    """
    errors = errors[np.isfinite(errors)]
    out = np.full((len(forecast_growth), 3), np.nan)
    if not len(errors):
        return out
    outcomes = forecast_growth[:, None] + spread[:, None] * errors[None, :]
    counts = np.stack([(outcomes < -threshold).sum(axis=1),
                       ((outcomes >= -threshold) & (outcomes <= threshold)).sum(axis=1),
                       (outcomes > threshold).sum(axis=1)], axis=1).astype(float)
    smoothed = (counts + PRIOR_OUTCOMES / 3) / (len(errors) + PRIOR_OUTCOMES)
    known = np.isfinite(forecast_growth) & np.isfinite(spread)
    out[known] = smoothed[known]
    return out


# What :func:`calibration` tries: a line through the backtest's (forecast, actual) growth
# or none, widenings of the pooled errors, and shrinkages towards the uniform guess.
SPREAD_FACTORS = (0.5, 0.75, 1.0, 1.5, 2.0)
SHRINKAGES = (0.0, 0.1, 0.2, 0.3, 0.4)
SLOPE_RANGE = (0.0, 3.0)
# Fewer backtest outcomes than this and a line or a widening would be fitted to noise (on
# the real apparel panels, 24 series x 3 windows, every calibration tried did worse on the
# held-out origins than the plain pooled errors): the plain chances are used.
MIN_OUTCOMES = 100


@dataclass(frozen=True)
class Calibration:
    """How forecast growth becomes chances, learned from backtest outcomes.

    ``intercept`` and ``slope`` recentre the forecast growth on what followed such
    forecasts (a model that damps trends has a slope above 1); ``spread`` widens the
    pooled errors; ``shrinkage`` moves every chance that far towards 1/3.
    """
    intercept: float = 0.0
    slope: float = 1.0
    spread: float = 1.0
    shrinkage: float = 0.0
    recentred: bool = False
    within_windows: bool = False   # errors less their window's mean: a shift common to a
                                   # whole window (one odd year) is not a series' spread

    def centre(self, forecast_growth: np.ndarray) -> np.ndarray:
        return self.intercept + self.slope * forecast_growth

    def errors(self, outcomes: pd.DataFrame) -> np.ndarray:
        """The pooled errors in noise units around the centre, widened.

        Without a line they are symmetrised: the spread of the errors carries over from
        series to series, their sign does not (a model trailing risers errs up on them
        and down on decliners). A line already takes that out: its residuals are used.
        """
        residual = ((outcomes["actual_growth"] - self.centre(outcomes["forecast_growth"]))
                    / outcomes["noise"]).replace([np.inf, -np.inf], np.nan)
        if self.within_windows:
            residual = residual - residual.groupby(outcomes["cutoff"]).transform("mean")
        residual = residual.dropna().to_numpy(float)
        pooled = residual if self.recentred else np.concatenate([residual, -residual])
        return self.spread * pooled

    def apply(self, p: np.ndarray) -> np.ndarray:
        return (1 - self.shrinkage) * p + self.shrinkage / 3


def _line(outcomes: pd.DataFrame) -> tuple[float, float]:
    """Actual growth against forecast growth, least squares in noise units."""
    if outcomes["forecast_growth"].nunique() < 3:
        return 0.0, 1.0
    slope, intercept = np.polyfit(outcomes["forecast_growth"], outcomes["actual_growth"], 1,
                                  w=1 / outcomes["noise"])
    return float(intercept), float(np.clip(slope, *SLOPE_RANGE))


def _candidates(outcomes: pd.DataFrame) -> list[Calibration]:
    intercept, slope = _line(outcomes)
    return [Calibration(*line, spread, shrinkage, recentred, within)
            for recentred, line in ((False, (0.0, 1.0)), (True, (intercept, slope)))
            for within in (False, True)
            for spread in SPREAD_FACTORS for shrinkage in SHRINKAGES]


def calibration(outcomes: pd.DataFrame, threshold: float = 0.05) -> Calibration:
    """The calibration whose chances held best on backtest windows they did not see.

    Errors pooled over a panel's backtest understate what a new window brings (a new
    season, a shifted level), and a model's forecasts may trail or overshoot its trends.
    Each window's calls are made from every candidate fitted on the other windows; the
    candidate with the lowest mean Brier score over those held-out windows is fitted again
    on all windows. With one window nothing is held out, and with few outcomes the fit
    would follow noise: the plain chances.
    """
    outcomes = outcomes.dropna(subset=["noise", "forecast_growth", "actual_growth"])
    outcomes = outcomes[outcomes["noise"] > 0]
    cutoffs = outcomes["cutoff"].unique()
    if len(cutoffs) < 2 or len(outcomes) < MIN_OUTCOMES:
        return Calibration()
    scores = []
    for cutoff in cutoffs:
        held = outcomes["cutoff"] == cutoff
        window = outcomes[held]
        actual = label(window["actual_growth"], threshold)
        onehot = np.stack([actual == k for k in LABELS], axis=1).astype(float)
        scores.append([((candidate.apply(chances(
            candidate.centre(window["forecast_growth"].to_numpy(float)),
            window["noise"].to_numpy(float), candidate.errors(outcomes[~held]), threshold))
            - onehot) ** 2).sum(axis=1).mean() for candidate in _candidates(outcomes[~held])])
    return _candidates(outcomes)[int(np.mean(scores, axis=0).argmin())]


def make(history: pd.DataFrame, forecasts: pd.DataFrame, season_length: int, freq: str,
         scales: pd.Series, outcomes: pd.DataFrame | None,
         config: TrendConfig = TrendConfig(), borrowed: set[str] = frozenset(),
         calibrated: Calibration = Calibration()) -> pd.DataFrame:
    """One call per series: growth, label, chance and the chances of each class.

    ``outcomes`` are the backtest outcomes (:func:`backtest_outcomes`) the chances are
    learned from, ``calibrated`` how (:func:`calibration`); ``borrowed`` names the series
    whose spread comes from the panel rather than a backtest of their own (marked in
    ``evidence``).
    """
    totals = season_totals(history, forecasts, season_length, freq)
    called = growth(totals["forecast_total"], totals["base_total"])
    spread = noise(scales.reindex(totals.index), totals["steps"], totals["base_total"])
    errors = calibrated.errors(outcomes) if outcomes is not None else np.array([])
    expected = calibrated.centre(called.to_numpy())
    p = calibrated.apply(chances(expected, spread.to_numpy(), errors, config.threshold))
    stated = np.isfinite(p).all(axis=1)
    periods = history.groupby("unique_id")["ds"].size().reindex(totals.index)
    dates = forecasts.groupby("unique_id")["ds"].agg(["min", "max"]).reindex(totals.index)
    by_point = label(expected, config.threshold)
    out = pd.DataFrame({
        "unique_id": totals.index, "base_total": totals["base_total"].to_numpy(),
        "forecast_total": totals["forecast_total"].to_numpy(), "growth": called.to_numpy(),
        # Where the chances are centred: the forecast's growth, recentred on what followed
        # such forecasts in the backtest.
        "expected_growth": expected,
        # The most probable class, so the label and its chance always agree.
        "label": np.where(stated, most_probable(p, expected, config.threshold), by_point),
        "probability": np.where(stated, np.nan_to_num(p).max(axis=1), np.nan),
        "p_declining": p[:, 0], "p_stable": p[:, 1], "p_rising": p[:, 2],
        "steps": totals["steps"].to_numpy(), "history_periods": periods.to_numpy(),
        "horizon_start": dates["min"].to_numpy(), "horizon_end": dates["max"].to_numpy(),
        "evidence": np.where(~stated, "none", np.where(totals.index.isin(list(borrowed)),
                                                        "borrowed", "backtest")),
        "reason": [None if ok else _no_chance(n, constant) for ok, n, constant in
                   zip(stated, periods, scales.reindex(totals.index) == 0,
                       strict=True)]})
    no_base = called.isna().to_numpy()
    out.loc[no_base, ["growth", "expected_growth", "probability", "p_declining", "p_stable",
                      "p_rising"]] = np.nan
    out.loc[no_base, "label"] = "no_base"
    out.loc[no_base, "reason"] = "nothing observed a season before the horizon"
    return out


def most_probable(p: np.ndarray, expected: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    """Each row's most probable class. A few pooled errors often split evenly, and the order
    of the classes must not break a tie: the class of the point forecast (``expected``
    growth) wins if it is among the tied, else "stable", else the side the forecast leans
    to."""
    p = np.nan_to_num(p)
    tied = np.isclose(p, p.max(axis=1, keepdims=True))
    point = np.stack([label(expected, threshold) == k for k in LABELS], axis=1)
    stable = np.array(LABELS) == "stable"
    lean = np.stack([np.nan_to_num(expected) <= 0, np.zeros(len(p), bool),
                     np.nan_to_num(expected) > 0], axis=1)
    preference = 4 * point + 2 * stable + lean
    index = np.where(tied, preference, -1).argmax(axis=1)
    return np.array(LABELS)[index]


def _no_chance(periods: int, constant: bool) -> str:
    if constant:
        return f"{int(periods)} periods of history that never vary; no chance given"
    return f"{int(periods)} periods of history and no backtest to learn from; no chance given"


def mark_emerging(calls: pd.DataFrame, config: TrendConfig = TrendConfig()) -> pd.DataFrame:
    """"Emerging": rising from the lowest quarter of the panel's levels."""
    level = calls["base_total"] / calls["steps"]
    return calls.assign(emerging=(calls["label"] == "rising")
                        & (level <= level.quantile(config.low_base_quantile)))


def direction_accuracy(predicted: pd.Series, actual_growth: pd.Series,
                       threshold: float = 0.05) -> float:
    """HERMES-style accuracy: share of series whose 3-class label matches the actual one."""
    actual = pd.Series(label(actual_growth, threshold), index=actual_growth.index)
    both = pd.concat([predicted.rename("p"), actual.rename("a")], axis=1, join="inner")
    both = both[both["p"].isin(LABELS)]
    return float((both["p"] == both["a"]).mean()) if len(both) else float("nan")


# -- the track record ------------------------------------------------------------------------

GRADE_COLUMNS = ("week", "unique_id", "label", "probability", "outcome", "hit",
                 "p_outcome", "brier", "actual_growth", "called_growth", "horizon_start",
                 "horizon_end")
BANDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def grade(calls: pd.DataFrame, history: pd.DataFrame, season_length: int, freq: str,
          threshold: float = 0.05) -> pd.DataFrame:
    """Grade every call whose horizon the history has passed, against what happened.

    ``calls``: ``week`` (when made), ``unique_id``, ``label``, ``probability``,
    ``p_declining/p_stable/p_rising``, ``growth``, ``horizon_start``, ``horizon_end``. A
    call is graded when its series is observed through the horizon's last period; the
    outcome compares the horizon's actual total with the same periods a season earlier,
    exactly as the call did.
    """
    calls = calls[calls["label"].isin(LABELS)].dropna(subset=["horizon_start", "horizon_end"])
    if calls.empty or history.empty:
        return pd.DataFrame(columns=list(GRADE_COLUMNS))
    start = np.asarray(frequency.period_index(pd.to_datetime(calls["horizon_start"]), freq))
    end = np.asarray(frequency.period_index(pd.to_datetime(calls["horizon_end"]), freq))
    steps = end - start + 1
    calls = calls.reset_index(drop=True)
    expanded = calls.loc[np.repeat(calls.index, steps), ["week", "unique_id"]]
    expanded["period"] = np.repeat(start, steps) + (
        np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps))
    hist = history.assign(period=frequency.period_index(history["ds"], freq))
    observed = hist.groupby("unique_id")["period"].max()
    values = hist.set_index(["unique_id", "period"])["y"]
    expanded["y"] = values.reindex(pd.MultiIndex.from_frame(
        expanded[["unique_id", "period"]])).to_numpy()
    expanded["base"] = values.reindex(pd.MultiIndex.from_arrays(
        [expanded["unique_id"], expanded["period"] - season_length])).to_numpy()
    usable = expanded.dropna(subset=["base"])
    totals = usable.groupby(["week", "unique_id"]).agg(actual_total=("y", "sum"),
                                                       outcome_base=("base", "sum"))
    calls = calls.assign(end_period=end)
    graded = calls.merge(totals.reset_index(), on=["week", "unique_id"])
    # Graded only once the whole horizon is observed (a late week may still be missing).
    graded = graded[graded["unique_id"].map(observed) >= graded["end_period"]]
    graded = graded.assign(actual_growth=growth(graded["actual_total"], graded["outcome_base"]))
    graded = graded[graded["actual_growth"].notna()]
    outcome = label(graded["actual_growth"], threshold)
    probabilities = graded[[f"p_{k}" for k in LABELS]].to_numpy(float)
    onehot = np.stack([outcome == k for k in LABELS], axis=1).astype(float)
    return pd.DataFrame({
        "week": graded["week"].to_numpy(), "unique_id": graded["unique_id"].to_numpy(),
        "label": graded["label"].to_numpy(), "probability": graded["probability"].to_numpy(),
        "outcome": outcome, "hit": graded["label"].to_numpy() == outcome,
        "p_outcome": (probabilities * onehot).sum(axis=1),
        "brier": ((probabilities - onehot) ** 2).sum(axis=1),
        "actual_growth": graded["actual_growth"].to_numpy(),
        "called_growth": graded["growth"].to_numpy(),
        "horizon_start": graded["horizon_start"].to_numpy(),
        "horizon_end": graded["horizon_end"].to_numpy()})


def skill(grades: pd.DataFrame) -> dict[str, float | int]:
    """Hit rate, balanced accuracy (mean recall over the outcomes that happened) and the
    3-class Brier score of graded calls (Brier only over calls that stated a chance)."""
    if grades.empty:
        return {"calls": 0, "hit_rate": float("nan"), "balanced_accuracy": float("nan"),
                "brier": float("nan")}
    recalls = grades.groupby("outcome")["hit"].mean()
    return {"calls": len(grades), "hit_rate": float(grades["hit"].mean()),
            "balanced_accuracy": float(recalls.mean()),
            "brier": float(grades["brier"].mean()) if grades["brier"].notna().any()
            else float("nan")}


def reliability(grades: pd.DataFrame, bands: tuple[float, ...] = BANDS) -> pd.DataFrame:
    """Stated chance in bands vs how often the call held, with n per band."""
    stated = grades.dropna(subset=["probability"])
    band = pd.cut(stated["probability"], list(bands), include_lowest=True)
    table = stated.groupby(band, observed=True).agg(
        n=("hit", "size"), stated=("probability", "mean"), held=("hit", "mean"))
    table.index = [f"{max(iv.left, 0):.0%}-{iv.right:.0%}" for iv in table.index]
    return table.rename_axis("band").reset_index()


PERIODS = {"quarter": pd.Timedelta(days=91), "year": pd.Timedelta(days=365)}


def track_record(grades: pd.DataFrame, as_of: pd.Timestamp) -> dict[str, dict]:
    """Skill of the calls whose horizon ended in the last quarter, the last year, and ever."""
    ends = pd.to_datetime(grades["horizon_end"]) if len(grades) else pd.Series(dtype="M8[ns]")
    record = {name: skill(grades[(ends > as_of - span).to_numpy()])
              for name, span in PERIODS.items()}
    return {**record, "all": skill(grades)}


def record_metrics(record: dict[str, dict]) -> dict[str, float]:
    """The track record as flat MLflow metric names (``calls.quarter.hit_rate``...)."""
    return {f"calls.{period}.{name}": float(value) for period, figures in record.items()
            for name, value in figures.items() if pd.notna(value)}
