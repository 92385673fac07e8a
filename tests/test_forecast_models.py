"""The model contract, backtests without leakage, metrics and conformal intervals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from forecast_fixtures import LastValue, seasonal_panel
from helpers import REPO, inherited_env

from forecasting import intervals, metrics
from forecasting.backtest import cross_validation, seasonal_scale, split
from forecasting.harmonic import HarmonicRegression, HarmonicSpec
from forecasting.models import Ensemble, GlobalGBM, StatsModel, WindowAverage

CONTRACT = ["unique_id", "ds", "model", "yhat"]


@pytest.mark.parametrize("model", [
    StatsModel("seasonal_naive", 12), StatsModel("auto_theta", 12), StatsModel("auto_ets", 12),
    StatsModel("seasonal_ets", 12), StatsModel("optimized_theta", 12), GlobalGBM(12, max_iter=20),
    WindowAverage(12), LastValue(12), HarmonicRegression(12),
    Ensemble([StatsModel("seasonal_naive", 12), WindowAverage(12)]),
], ids=lambda m: m.alias)
def test_every_model_follows_the_contract(model):
    df = seasonal_panel(n_series=3, periods=48)
    out = model.fit(df).predict(6)
    assert list(out.columns) == CONTRACT
    assert len(out) == 3 * 6 and set(out["model"]) == {model.alias}
    first = out.groupby("unique_id")["ds"].min()
    assert (first == pd.Timestamp("2019-01-01")).all(), "forecasts start one period after the data"
    assert out["yhat"].notna().all()
    learned = model.learned()     # what fitting chose goes to MLflow as JSON, unchanged
    assert json.loads(json.dumps(learned)) == learned
    assert model.freq_ == "MS"


@pytest.mark.parametrize("model", [GlobalGBM(12, max_iter=20), WindowAverage(12),
                                   HarmonicRegression(12)], ids=lambda m: m.alias)
def test_forecast_dates_start_after_each_series_own_end(model):
    df = seasonal_panel(n_series=3, periods=48)
    df = df[(df["unique_id"] != "s1") | (df["ds"] < "2018-11-01")]     # s1 ends 2 months early
    out = model.fit(df).predict(3)
    dates = out.groupby("unique_id")["ds"].agg(["min", "max"])
    assert dates.loc["s1"].tolist() == [pd.Timestamp("2018-11-01"), pd.Timestamp("2019-01-01")]
    assert dates.loc["s0"].tolist() == [pd.Timestamp("2019-01-01"), pd.Timestamp("2019-03-01")]


@pytest.mark.parametrize("model", [
    StatsModel("auto_ets", 12), StatsModel("auto_theta", 12), StatsModel("optimized_theta", 12),
    StatsModel("seasonal_ets", 12), StatsModel("seasonal_naive", 12), HarmonicRegression(12),
    GlobalGBM(12, max_iter=20), WindowAverage(12),
], ids=lambda m: m.alias)
def test_forecasts_do_not_depend_on_the_units_of_y(model):
    """The same sales in units or in billions, the same share as a fraction or in per-mille,
    get the same forecasts. statsforecast's optimisers use absolute tolerances: on raw values
    Theta's forecasts moved 2% between scales, and a harmonic spec flipped on small values."""
    df = seasonal_panel(n_series=3, periods=48)
    level = [80] if isinstance(model, StatsModel) else []
    base = model.fit(df).predict(6, level=level).set_index(["unique_id", "ds"])
    for factor in (1e-9, 1e3, 1e9):
        scaled = model.fit(df.assign(y=df["y"] * factor)).predict(6, level=level)
        scaled = scaled.set_index(["unique_id", "ds"]).loc[base.index]
        for column in [c for c in base.columns if c.startswith("yhat")]:
            np.testing.assert_allclose(scaled[column] / factor, base[column], rtol=1e-6,
                                       err_msg=f"{column} at {factor:g} times the units")


def test_global_model_keeps_to_one_core_by_default():
    """scikit-learn would take every core; an Airflow worker running several tasks, or a
    benchmark comparing compute, needs the global model to keep to its ``n_jobs``."""
    df = seasonal_panel(n_series=100, periods=120)
    GlobalGBM(12, max_iter=5).fit(df)     # imports and first-call set-up, not measured
    wall, cpu = time.perf_counter(), time.process_time()
    GlobalGBM(12).fit(df).predict(12)
    cores = (time.process_time() - cpu) / (time.perf_counter() - wall)
    assert cores < 1.25, f"the global model kept {cores:.2f} cores busy"


def test_seasonal_ets_gives_each_series_the_form_its_data_allow():
    """ETS(M,N,M) needs positive values and two seasons; a series without gets the nearest
    form instead of failing the whole panel."""
    df = seasonal_panel(n_series=3, periods=48)
    df.loc[df.index[(df["unique_id"] == "s1")][10], "y"] = 0.0        # a zero: additive
    df = df[(df["unique_id"] != "s2") | (df["ds"] >= "2017-06-01")]    # 19 months: no season
    model = StatsModel("seasonal_ets", 12).fit(df)
    assert model.learned() == {"specs": {"ETS(M,N,M)": 1, "ETS(A,N,A)": 1, "ETS(A,N,N)": 1}}
    out = model.predict(6, level=[80])
    assert sorted(out["unique_id"].unique()) == ["s0", "s1", "s2"] and len(out) == 18
    assert out["yhat"].notna().all() and (out["yhat_lo_80"] < out["yhat_hi_80"]).all()
    season = out[out["unique_id"] == "s0"]["yhat"]
    assert season.max() / season.min() > 1.3, "the positive series keeps its seasonal swing"


def test_models_without_intervals_say_so_and_conformal_adds_them():
    df = seasonal_panel(n_series=4, periods=60)
    with pytest.raises(ValueError, match="Conformal"):
        GlobalGBM(12, max_iter=20).fit(df).predict(6, level=[80])
    wrapped = intervals.Conformal(GlobalGBM(12, max_iter=20), windows=2, horizon=6)
    out = wrapped.fit(df).predict(6, level=[80, 95])
    assert (out["yhat_lo_95"] <= out["yhat_lo_80"]).all()
    assert (out["yhat_lo_80"] <= out["yhat"]).all() and (out["yhat"] <= out["yhat_hi_80"]).all()
    assert (out["yhat_hi_80"] <= out["yhat_hi_95"]).all()


def test_statsforecast_models_bring_their_own_intervals():
    out = StatsModel("auto_ets", 12).fit(seasonal_panel(2, 48)).predict(4, level=[80])
    assert (out["yhat_lo_80"] < out["yhat_hi_80"]).all()


def test_seasonal_naive_repeats_last_season():
    df = seasonal_panel(n_series=1, periods=36)
    out = StatsModel("seasonal_naive", 12).fit(df).predict(12)
    np.testing.assert_allclose(out["yhat"].to_numpy(), df["y"].to_numpy()[-12:])


def test_global_model_pools_series_of_any_scale():
    """One shared seasonal shape across scales 1..1000: the pooled model learns it."""
    df = seasonal_panel(n_series=20, periods=84, noise=0.03, seed=1)
    from forecasting.backtest import split

    train, test = split(df.sort_values(["unique_id", "ds"]), 12, 0)
    out = GlobalGBM(12, max_horizon=12).fit(train).predict(12)
    joined = test.merge(out, on=["unique_id", "ds"])
    relative_error = ((joined["yhat"] - joined["y"]).abs() / joined["y"]).mean()
    naive = WindowAverage(12, window=12).fit(train).predict(12)
    naive_error = ((test.merge(naive, on=["unique_id", "ds"]).eval("abs(yhat - y) / y")).mean())
    assert relative_error < 0.08
    assert relative_error < naive_error / 3


def harmonic_panel(n_series: int, periods: int, harmonics: int, slope: float,
                   noise: float, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Noisy shares around a smooth season of ``harmonics`` Fourier pairs; also the truth."""
    rng = np.random.default_rng(seed)
    t = np.arange(periods)
    truth = []
    for _ in range(n_series):
        season = sum(rng.uniform(0.02, 0.08) * np.sin(2 * np.pi * k * t / 12 + rng.uniform(0, 6))
                     for k in range(1, harmonics + 1))
        truth.append(0.3 + slope * t / 12 + season)
    truth = np.array(truth)
    y = truth + rng.normal(0, noise, truth.shape)
    df = pd.DataFrame({"unique_id": np.repeat([f"s{i:02d}" for i in range(n_series)], periods),
                       "ds": np.tile(pd.date_range("2020-01-01", periods=periods, freq="MS"),
                                     n_series), "y": y.reshape(-1)})
    return df, truth


@pytest.mark.parametrize(("harmonics", "slope", "periods"), [(1, 0.0, 24), (2, 0.02, 60)])
def test_harmonic_regression_pools_its_choice_of_shape(harmonics, slope, periods):
    """Pooled AICc finds the panel's shape, and the smooth fit beats copying last season."""
    df, truth = harmonic_panel(30, periods + 6, harmonics, slope, noise=0.03)
    train, _ = split(df, 6, 0)
    model = HarmonicRegression(12).fit(train)
    assert model.spec_ == HarmonicSpec(harmonics, trend=slope != 0)
    out = model.predict(6).sort_values(["unique_id", "ds"])
    error = np.abs(out["yhat"].to_numpy().reshape(30, 6) - truth[:, -6:]).mean()
    naive = StatsModel("seasonal_naive", 12).fit(train).predict(6).sort_values(
        ["unique_id", "ds"])
    naive_error = np.abs(naive["yhat"].to_numpy().reshape(30, 6) - truth[:, -6:]).mean()
    assert error < naive_error / 2


def test_harmonic_regression_of_shares_stays_in_range_and_complements_add_up():
    df, _ = harmonic_panel(6, 30, 1, 0.0, noise=0.03)
    df["y"] = (df["y"] - 0.28).clip(lower=0.0)          # small shares, some exactly 0
    complement = df.assign(unique_id=df["unique_id"] + "_not", y=1 - df["y"])
    out = HarmonicRegression(12, shares=True).fit(pd.concat([df, complement])).predict(12)
    assert out["yhat"].between(0, 1, inclusive="neither").all()
    wide = out.assign(base=out["unique_id"].str.removesuffix("_not")).pivot_table(
        index=["base", "ds"], columns=out["unique_id"].str.endswith("_not"), values="yhat")
    np.testing.assert_allclose(wide[False] + wide[True], 1.0, atol=1e-9)


def test_harmonic_regression_limits_its_shape_to_the_shortest_series():
    df, _ = harmonic_panel(4, 36, 2, 0.0, noise=0.03)
    short = df[(df["unique_id"] != "s00") | (df["ds"] >= "2022-06-01")]   # s00: 7 values
    model = HarmonicRegression(12).fit(short)
    assert model.spec_.n_params <= 7 - 3
    assert model.predict(3)["yhat"].notna().all()
    with pytest.raises(ValueError, match="too short"):
        HarmonicRegression(12, "MS").fit(df[df["ds"] < "2020-03-01"])


def test_backtest_has_cutoffs_and_never_peeks():
    LastValue.seen.clear()
    df = seasonal_panel(n_series=2, periods=40)
    result = cross_validation([LastValue(12)], df, h=4, windows=3, step=2)
    rows = result.forecasts
    assert rows["cutoff"].nunique() == 3
    assert (rows["ds"] > rows["cutoff"]).all()
    for seen, (cutoff, window) in zip(LastValue.seen, rows.groupby("cutoff"), strict=True):
        assert seen["ds"].max() == cutoff, "the model saw exactly the data up to its cutoff"
        assert len(window) == 2 * 4
    # The dummy forecasts the last value it saw: its forecast equals y at the cutoff.
    at_cutoff = df.rename(columns={"ds": "cutoff", "y": "y_cut"})
    joined = rows.merge(at_cutoff, on=["unique_id", "cutoff"])
    np.testing.assert_allclose(joined["yhat"], joined["y_cut"])


def test_backtest_leaves_out_series_too_short_for_a_window():
    df = pd.concat([seasonal_panel(1, 40), seasonal_panel(1, 16).assign(unique_id="short")])
    result = cross_validation([LastValue(12)], df, h=4, windows=2)
    assert "short" not in set(result.forecasts["unique_id"])
    assert any("fewer than 13" in s for s in result.skipped)


def run_in_fresh_python(script: str, timeout: float = 300) -> str:
    """``script``'s output from a new interpreter (nothing imported yet); fails on a hang."""
    env = {**inherited_env(), "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)   # with any worker processes it left
        process.communicate()
        pytest.fail(f"no answer in {timeout} s")
    assert process.returncode == 0, err
    return out.strip().splitlines()[-1]


def test_backtest_times_fitting_not_the_first_import_of_a_library():
    # A fresh interpreter: statsforecast is not imported yet, as in `stylecast backtest`.
    seconds = json.loads(run_in_fresh_python("""
import json
from forecast_fixtures import seasonal_panel
from forecasting.backtest import cross_validation
from forecasting.models import StatsModel
df = seasonal_panel(n_series=3, periods=60)
models = [StatsModel("seasonal_naive", 12), StatsModel("auto_ets", 12)]
print(json.dumps(cross_validation(models, df, h=6, windows=2).seconds))
"""))
    # Seasonal naive only repeats a season; AutoETS searches ~30 forms. Timed first, seasonal
    # naive once took 1.2 s (statsforecast's import) to AutoETS's 0.3 s.
    assert seconds["seasonal_naive"] < seconds["auto_ets"] / 3, seconds


def test_statsforecast_worker_processes_stop_inside_an_airflow_task():
    # Airflow 3 runs a task under this SIGTERM handler (task_runner's _on_term): forked
    # children inherit it and ignore SIGTERM, which hung fits with n_jobs > 1 in a DAG.
    out = run_in_fresh_python("""
import os, signal
from forecast_fixtures import seasonal_panel
from forecasting.models import StatsModel
task_pid = os.getpid()
def on_term(signum, frame):
    if os.getpid() != task_pid:
        return
signal.signal(signal.SIGTERM, on_term)
df = seasonal_panel(n_series=8, periods=48)
shapes = [StatsModel(kind, 12, n_jobs=2).fit(df).predict(6).shape
          for kind in ("seasonal_naive", "seasonal_ets", "optimized_theta")]
print(shapes)
""", timeout=120)
    assert out == str([(48, 4)] * 3)



def test_a_pool_closed_before_its_workers_started_still_stops_inside_an_airflow_task():
    """statsforecast closes its pool right after a small fit, when a worker may still be
    between fork and initializer: the SIGTERM of ``terminate()`` met Airflow's inherited
    handler there, the worker lived on and ``join()`` never returned (a weekly DAG hung in
    its forecast step). Here every worker is still starting when the pool is closed."""
    out = run_in_fresh_python("""
import os, signal, time
from pipeline.core.workers import StoppablePool, reset_inherited_signals
task_pid = os.getpid()
signal.signal(signal.SIGTERM, lambda *_: None if os.getpid() != task_pid else os._exit(3))
def slow_start():
    time.sleep(1.0)            # terminate() is sent meanwhile
    reset_inherited_signals()
started = time.monotonic()
pool = StoppablePool(2, slow_start)
pool.terminate()
pool.join()
print(round(time.monotonic() - started, 1))
""", timeout=60)
    assert float(out) < 10, "the workers stopped instead of waiting for work"

def test_metrics_on_a_hand_computed_example():
    rows = pd.DataFrame({
        "model": "m", "unique_id": ["a", "a", "b", "b"], "cutoff": pd.Timestamp("2020-01-01"),
        "y": [10.0, 20.0, 0.0, 4.0], "yhat": [12.0, 18.0, 0.0, 2.0], "scale": [2.0, 2.0, 1.0, 1.0],
        "yhat_lo_80": [11, 15, -1, 3], "yhat_hi_80": [13, 21, 1, 5]})
    out = metrics.table(rows, levels=[80]).set_index("model").loc["m"]
    # MASE: a -> mean(2, 2)/2 = 1; b -> mean(0, 2)/1 = 1
    assert out["mase"] == pytest.approx(1.0)
    # sMAPE: a -> (200*2/22 + 200*2/38)/2; b -> (0 + 200*2/6)/2 (0/0 counts as 0)
    expected = ((400 / 22 + 400 / 38) / 2 + (400 / 6) / 2) / 2
    assert out["smape"] == pytest.approx(expected)
    assert out["wape"] == pytest.approx(6 / 34)
    assert out["coverage_80"] == pytest.approx(0.75)
    assert seasonal_scale(np.array([1.0, 2, 3, 5, 8]), 2) == pytest.approx((2 + 3 + 5) / 3)


def test_conformal_intervals_cover_about_what_they_claim():
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"model": "m", "step": rng.integers(1, 4, 4000),
                         "y": rng.normal(0, 1, 4000), "yhat": 0.0, "scale": 1.0})
    calibration, evaluation = rows.iloc[:2000], rows.iloc[2000:].copy()
    quantiles = intervals.calibrate(calibration, [80, 95])
    evaluation["unique_id"] = "x"
    out = intervals.apply(evaluation, quantiles, pd.Series({"x": 1.0}), [80, 95], (None, None))
    for level in (80, 95):
        covered = ((out["y"] >= out[f"yhat_lo_{level}"]) & (out["y"] <= out[f"yhat_hi_{level}"]))
        assert abs(covered.mean() - level / 100) < 0.03


def test_the_registry_builds_every_model_it_names_under_that_name():
    """One name per model for the engine, the default pool and both commands: each factory
    builds a model whose alias is its registered name, and the statsforecast models the
    registry names are exactly the ones ``StatsModel`` knows how to build."""
    from forecasting import registry
    from forecasting.engine import ForecastConfig

    config = ForecastConfig(horizon=3, season_length=12)
    for name in registry.BASE_MODELS:
        assert registry.build(name, config, "MS").alias == name
    assert set(registry.STATSFORECAST_KINDS) == set(StatsModel.KINDS)
    assert set(registry.DEFAULT_CANDIDATES) <= set(registry.BASE_MODELS)
    assert config.candidates == registry.DEFAULT_CANDIDATES
    with pytest.raises(ValueError, match="unknown model 'prophet'"):
        registry.build("prophet", config, "MS")
