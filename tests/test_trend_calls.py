"""Trend calls: chances that hold, honest short histories, grading past calls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from forecast_fixtures import seasonal_panel

from forecasting import calls
from forecasting.engine import ForecastConfig, forecast

HORIZON = 12


@pytest.fixture(scope="module")
def known_truth():
    """120 monthly series over 11 years with planted yearly growth from -15% to +15% and
    noise, the last year held out; the calls are made on the rest and graded against it."""
    rng = np.random.default_rng(5)
    growth = (1 + rng.uniform(-0.15, 0.15, 120)) ** (1 / 12) - 1
    panel = seasonal_panel(n_series=120, periods=132, noise=0.06, growth=growth, seed=5)
    train = panel.groupby("unique_id").head(120)
    config = ForecastConfig(horizon=HORIZON, season_length=12, windows=3,
                            candidates=("seasonal_naive", "optimized_theta"))
    made = forecast(train, config).trends.assign(week="2021-W01")
    return made, calls.grade(made, panel, 12, "MS")


def test_stated_chances_hold_on_a_panel_whose_truth_is_known(known_truth):
    made, grades = known_truth
    assert len(grades) == len(made) == 120
    record = calls.skill(grades)
    assert record["brier"] < 2 / 3 - 0.15, "no better than the uniform guess"
    assert abs(grades["probability"].mean() - grades["hit"].mean()) < 0.08
    table = calls.reliability(grades)
    big = table[table["n"] >= 20]
    assert len(big) >= 2
    assert ((big["held"] - big["stated"]).abs() <= 0.15).all(), table
    # A chance is never 0 or 1, however clear the backtest.
    p = made[["p_declining", "p_stable", "p_rising"]].to_numpy()
    assert ((p > 0) & (p < 1)).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def _history(values: dict[str, list[float]], start: str = "2020-01-01") -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"unique_id": uid, "ds": pd.date_range(
        start, periods=len(y), freq="MS"), "y": y}) for uid, y in values.items()])


def test_past_calls_are_graded_against_what_happened_once_their_horizon_has_passed():
    year = [10.0] * 12
    history = _history({"up": year + [12.0] * 3, "flat": year + [10.2] * 3,
                        "down": year + [8.0] * 2})   # "down" is not observed to March yet
    made = pd.DataFrame({
        "week": "2021-W01", "unique_id": ["up", "flat", "down"],
        "label": ["rising", "rising", "declining"], "probability": [0.7, 0.6, 0.8],
        "p_declining": [0.1, 0.1, 0.8], "p_stable": [0.2, 0.3, 0.1],
        "p_rising": [0.7, 0.6, 0.1], "growth": [0.1, 0.08, -0.2],
        "horizon_start": "2021-01-01", "horizon_end": "2021-03-01"})
    grades = calls.grade(made, history, 12, "MS").set_index("unique_id")
    assert set(grades.index) == {"up", "flat"}
    assert grades.loc["up", "outcome"] == "rising" and bool(grades.loc["up", "hit"])
    assert grades.loc["up", "actual_growth"] == pytest.approx(0.2)
    assert grades.loc["flat", "outcome"] == "stable" and not grades.loc["flat", "hit"]
    assert grades.loc["flat", "brier"] == pytest.approx(0.1 ** 2 + 0.7 ** 2 + 0.6 ** 2)
    record = calls.skill(grades.reset_index())
    assert record["hit_rate"] == 0.5 and record["balanced_accuracy"] == 0.5
    later = calls.grade(made, pd.concat([history, _history({"down": [8.0]}, "2021-03-01")]),
                        12, "MS")
    assert later.set_index("unique_id").loc["down", "outcome"] == "declining"


def test_no_graded_calls_yet_is_an_empty_record_not_an_error():
    record = calls.track_record(pd.DataFrame(columns=list(calls.GRADE_COLUMNS)),
                                pd.Timestamp("2021-01-01"))
    assert record["quarter"]["calls"] == 0 and np.isnan(record["quarter"]["hit_rate"])
    assert calls.record_metrics(record) == {"calls.quarter.calls": 0.0,
                                            "calls.year.calls": 0.0, "calls.all.calls": 0.0}


def test_short_histories_get_a_chance_from_their_own_windows_never_0_or_1():
    """18 months of history: too short for the models, long enough for the fallback's own
    backtest window; the chance is stated, and is never certain."""
    panel = seasonal_panel(n_series=12, periods=18, noise=0.05,
                           growth=np.linspace(-0.03, 0.03, 12), seed=2)
    made = forecast(panel, ForecastConfig(horizon=6, season_length=12)).trends
    p = made[["p_declining", "p_stable", "p_rising"]].to_numpy()
    assert ((p > 0) & (p < 1)).all()
    assert set(made["evidence"]) == {"backtest"}


def test_a_series_too_short_for_any_backtest_gets_a_call_and_the_reason_no_chance():
    panel = seasonal_panel(n_series=4, periods=14, noise=0.05, seed=2)
    made = forecast(panel, ForecastConfig(horizon=6, season_length=12)).trends
    assert made["label"].isin(calls.LABELS).all()
    assert made["probability"].isna().all() and made["p_rising"].isna().all()
    assert (made["evidence"] == "none").all()
    assert made["reason"].str.fullmatch(
        r"14 periods of history and no backtest to learn from; no chance given").all()


def test_a_short_series_beside_long_ones_borrows_their_spread():
    long = seasonal_panel(n_series=6, periods=60, noise=0.05, seed=4)
    short = seasonal_panel(n_series=1, periods=14, noise=0.05, seed=9, start="2019-11-01")
    panel = pd.concat([long, short.assign(unique_id="short")])
    made = forecast(panel, ForecastConfig(horizon=6, season_length=12, windows=2,
                                          candidates=("seasonal_naive", "optimized_theta"))
                    ).trends.set_index("unique_id")
    assert made.loc["short", "evidence"] == "borrowed"
    assert 0 < made.loc["short", "probability"] < 1
    assert (made.drop(index="short")["evidence"] == "backtest").all()


def test_a_tie_between_chances_is_the_point_forecasts_class_never_the_first_in_order():
    """Six pooled errors often split 2/2/2: the call is then what the forecast says, or
    "stable" when the forecast's class is not among the tied, or the side it leans to."""
    third = np.full(3, 1 / 3)
    p = np.array([third, third, [0.4, 0.2, 0.4], [0.4, 0.2, 0.4], [0.2, 0.4, 0.4],
                  [0.5, 0.3, 0.2]])
    expected = np.array([0.2, -0.01, 0.01, -0.01, -0.2, 0.2])
    assert calls.most_probable(p, expected).tolist() == [
        "rising", "stable", "rising", "declining", "stable", "declining"]
