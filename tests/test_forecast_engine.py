"""The engine end to end: honest model choice, intervals, trend scores and labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from forecast_fixtures import seasonal_panel
from helpers import shared

from forecasting import calls, metrics
from forecasting.backtest import holdout_truth, split
from forecasting.engine import DEFAULT_PICK, ENSEMBLES, BacktestResult, ForecastConfig, forecast
from forecasting.models import StatsModel
from pipeline.series.transforms import attribute_shares
from pipeline.sources import streetstyle

CONTRACT = ["unique_id", "ds", "model", "yhat", "yhat_lo_80", "yhat_hi_80", "yhat_lo_95",
            "yhat_hi_95"]


@pytest.fixture(scope="module")
def aus_holdout():
    df = pd.read_csv(shared("trend-series", "aus_retail_apparel.csv"), parse_dates=["ds"])
    df = df.sort_values(["unique_id", "ds"], ignore_index=True)
    train, test = split(df, 12, 0)
    result = forecast(train, ForecastConfig(horizon=12, season_length=12))
    return train, test, result


def test_forecasts_follow_the_contract_one_row_per_series_and_date(aus_holdout):
    train, _, result = aus_holdout
    out = result.forecasts
    assert list(out.columns) == CONTRACT
    assert not out.duplicated(["unique_id", "ds"]).any()
    assert len(out) == train["unique_id"].nunique() * 12
    assert set(out["model"]) == {result.chosen}
    assert (out["yhat_lo_95"] <= out["yhat_lo_80"]).all()
    assert (out["yhat_lo_80"] <= out["yhat"]).all() and (out["yhat"] <= out["yhat_hi_80"]).all()


def test_choice_comes_from_backtest_windows_inside_the_training_data(aus_holdout):
    train, _, result = aus_holdout
    rows = result.backtest.rows
    assert rows["ds"].max() <= train["ds"].max()
    assert rows["cutoff"].nunique() == 3
    table = result.backtest.table.set_index("model")
    assert {"seasonal_naive", "optimized_theta", "global_gbm", *ENSEMBLES} <= set(table.index)
    assert {"mase", "smape", "wape", "coverage_80", "coverage_95"} <= set(table.columns)


def test_default_beats_seasonal_naive_on_real_held_out_apparel_data(aus_holdout):
    train, test, result = aus_holdout
    truth = holdout_truth(train, test, 12)
    naive = StatsModel("seasonal_naive", 12).fit(train).predict(12)
    rows = truth.merge(pd.concat([result.forecasts, naive]), on=["unique_id", "ds"])
    table = metrics.table(rows, levels=[80, 95]).set_index("model")
    assert table.loc[result.chosen, "mase"] < 0.9 * table.loc["seasonal_naive", "mase"]
    # Conformal intervals on unseen months: roughly what they claim.
    assert 0.6 <= table.loc[result.chosen, "coverage_80"] <= 0.97
    assert table.loc[result.chosen, "coverage_95"] >= 0.8


@pytest.mark.parametrize(("rival_errors", "expected"), [
    ((0.5, 0.5), "global_gbm"),       # clearly and consistently better: it replaces the pick
    ((0.1, 1.2), DEFAULT_PICK),       # better overall thanks to one lucky window: no
    ((0.95, 0.95), DEFAULT_PICK),     # better in every window, but within the margin: no
])
def test_the_default_pick_gives_way_only_to_a_clear_and_consistent_winner(rival_errors,
                                                                          expected):
    cutoffs = pd.to_datetime(["2020-01-01", "2020-02-01"])
    rows = pd.DataFrame([
        {"unique_id": "a", "cutoff": cutoff, "model": model, "y": 1.0, "scale": 1.0,
         "yhat": 1.0 + error}
        for cutoff, rival in zip(cutoffs, rival_errors, strict=True)
        for model, error in ((DEFAULT_PICK, 1.0), ("global_gbm", rival))])
    chosen = BacktestResult(rows, metrics.table(rows), weights={}, skipped=[]).best()
    assert chosen == expected


def test_all_models_adds_every_models_rows():
    df = seasonal_panel(n_series=3, periods=60)
    result = forecast(df, ForecastConfig(horizon=6, season_length=12, windows=2),
                      all_models=True)
    models = set(result.forecasts["model"])
    assert {"seasonal_naive", "optimized_theta", "seasonal_ets", "global_gbm", "harmonic",
            *ENSEMBLES} <= models
    assert result.chosen in models
    assert not result.forecasts.duplicated(["unique_id", "ds", "model"]).any()
    # The specialist is a candidate of its own but no member of the ensembles.
    wide = result.forecasts.pivot_table(index=["unique_id", "ds"], columns="model",
                                        values="yhat")
    generalists = wide[["seasonal_naive", "optimized_theta", "seasonal_ets", "global_gbm"]]
    np.testing.assert_allclose(wide["ensemble_mean"], generalists.mean(axis=1))
    np.testing.assert_allclose(wide["ensemble_median"], generalists.median(axis=1))
    assert set(result.backtest.weights) == set(generalists.columns)


def test_more_cores_give_the_same_forecasts():
    """--jobs spreads statsforecast over processes and the global model over threads: the
    forecasts must not depend on it."""
    df = seasonal_panel(n_series=8, periods=60)
    one, two = (forecast(df, ForecastConfig(horizon=6, season_length=12, windows=2,
                                            n_jobs=jobs), all_models=True)
                for jobs in (1, 2))
    pd.testing.assert_frame_equal(one.forecasts, two.forecasts)
    assert one.chosen == two.chosen


def test_the_same_sales_in_other_units_get_the_same_forecasts_and_trend_calls():
    """An analyst counting in thousands and one counting in units must get the same
    forecasts, intervals and rising / declining calls (they once differed by up to 6%)."""
    df = seasonal_panel(n_series=8, periods=60)
    config = ForecastConfig(horizon=6, season_length=12, windows=2)
    base = forecast(df, config, all_models=True)
    for factor in (1e-3, 7.3):
        other = forecast(df.assign(y=df["y"] * factor), config, all_models=True)
        assert other.chosen == base.chosen
        values = [c for c in base.forecasts.columns if c.startswith("yhat")]
        np.testing.assert_allclose(other.forecasts[values] / factor, base.forecasts[values],
                                   rtol=1e-6)
        pd.testing.assert_frame_equal(other.trends[["unique_id", "label", "emerging"]],
                                      base.trends[["unique_id", "label", "emerging"]])
        np.testing.assert_allclose(other.trends["probability"], base.trends["probability"],
                                   rtol=1e-6)


def test_pooled_harmonic_model_wins_the_backtest_on_real_style_shares():
    """StreetStyle-27K attribute shares: 24 noisy months per series, the last 6 held out.

    Seasonal naive copies last year's sampling noise; the harmonic regression averages it
    out. The backtest inside the training months must find that on its own.
    """
    observations = pd.read_csv(shared("streetstyle27k", "observations.csv"), dtype=str)
    shares = attribute_shares(observations, "created_time", streetstyle.ATTRIBUTES, "MS",
                              min_mean_share=0.05)[["unique_id", "ds", "y"]]
    train, test = split(shares.sort_values(["unique_id", "ds"], ignore_index=True), 6, 0)
    result = forecast(train, ForecastConfig(horizon=6, season_length=12, shares=True))
    assert result.chosen == "harmonic"
    learned = result.models["harmonic"]
    assert learned["scale"] == "logit" and learned["harmonics"] >= 1
    naive = StatsModel("seasonal_naive", 12).fit(train).predict(6)
    rows = holdout_truth(train, test, 12).merge(pd.concat([result.forecasts, naive]),
                                                on=["unique_id", "ds"])
    mase = metrics.table(rows).set_index("model")["mase"]
    assert mase["harmonic"] < 0.95 * mase["seasonal_naive"]


def test_trend_labels_follow_planted_growth():
    growth = [0.02, 0.0, -0.02, 0.02]
    df = seasonal_panel(n_series=4, periods=72, noise=0.01, growth=growth, seed=3)
    result = forecast(df, ForecastConfig(horizon=12, season_length=12, windows=2))
    trends = result.trends.set_index("unique_id")
    assert trends.loc["s0", "label"] == "rising" and trends.loc["s3", "label"] == "rising"
    assert trends.loc["s1", "label"] == "stable"
    assert trends.loc["s2", "label"] == "declining"
    assert trends.loc["s0", "p_rising"] > 0.6 and trends.loc["s2", "p_declining"] > 0.6
    probabilities = trends[["p_declining", "p_stable", "p_rising"]].sum(axis=1)
    np.testing.assert_allclose(probabilities, 1.0)
    # "Emerging": rising from the lowest quarter of levels.
    levels = trends["base_total"]
    for uid, row in trends.iterrows():
        low = levels[uid] <= levels.quantile(0.25)
        assert row["emerging"] == (row["label"] == "rising" and low)


def test_a_declining_forecast_is_not_called_rising_by_errors_pooled_from_rising_series():
    """Backtest errors that all say "the actual came out higher" (the model trailed rising
    series) widen the uncertainty of a declining series' total but do not flip its call."""
    months = pd.date_range("2020-01-01", periods=24, freq="MS")
    history = pd.DataFrame({"unique_id": "a", "ds": months[:12], "y": 10.0})
    forecasts = pd.DataFrame({"unique_id": "a", "ds": months[12:], "yhat": 8.0})  # -20%
    # Three in four backtest outcomes: the actual growth came out 3 noise units higher.
    outcomes = pd.DataFrame({"cutoff": "2019-12-01", "forecast_growth": 0.0, "noise": 0.1,
                             "actual_growth": np.r_[np.full(30, 0.3), np.zeros(10)]})
    made = calls.make(history, forecasts, 12, "MS", pd.Series({"a": 1.0}), outcomes)
    row = made.set_index("unique_id").loc["a"]
    assert row["growth"] == pytest.approx(-0.2)
    assert row["label"] == "declining"
    # 80 symmetrised outcomes (50 declining, 30 rising) and one uniform pseudo-outcome.
    assert row["p_declining"] == pytest.approx((50 + 1 / 3) / 81)
    assert row["p_rising"] == pytest.approx((30 + 1 / 3) / 81)


def test_labels_and_hermes_direction_accuracy():
    assert list(calls.label([0.06, 0.05, -0.05, -0.051, 0.0])) == [
        "rising", "stable", "stable", "declining", "stable"]
    predicted = pd.Series({"a": "rising", "b": "stable", "c": "declining", "d": "rising"})
    actual = pd.Series({"a": 0.10, "b": 0.01, "c": 0.2, "d": -0.3})
    assert calls.direction_accuracy(predicted, actual) == 0.5
