"""Bad input: every problem is named per series; one bad series never stops the others."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from forecast_fixtures import seasonal_panel

from forecasting import data
from forecasting.engine import ForecastConfig, forecast
from forecasting.models import GlobalGBM, StatsModel
from forecasting.run import read_series
from pipeline.core.errors import UnusableInputError


def problems_by_series(prepared) -> dict[str, tuple[str, str]]:
    return {r.unique_id: (r.reason, r.action) for r in prepared.problems.itertuples()}


def good(n: int = 2, periods: int = 48) -> pd.DataFrame:
    return seasonal_panel(n_series=n, periods=periods)


def test_clean_input_has_no_problems():
    prepared = data.prepare(good(), 12)
    assert prepared.problems.empty and prepared.freq == "MS"
    assert prepared.series["unique_id"].nunique() == 2 and prepared.fallback.empty


def test_exact_duplicates_collapse_and_conflicting_ones_reject_the_series():
    df = good(3)
    exact = df[df["unique_id"] == "s0"].head(1)
    clash = df[df["unique_id"] == "s1"].head(1).assign(y=-1.0)
    prepared = data.prepare(pd.concat([df, exact, clash]), 12)
    assert problems_by_series(prepared) == {"s1": ("duplicate_ds", "rejected")}
    assert len(prepared.series[prepared.series["unique_id"] == "s0"]) == 48


@pytest.mark.parametrize("gaps, action, rows", [("reject", "rejected", 0),
                                                ("zero", "filled", 48),
                                                ("interpolate", "filled", 48)])
def test_gaps_are_rejected_or_filled_by_flag(gaps, action, rows):
    df = good(2)
    hole = (df["unique_id"] == "s0") & (df["ds"] == "2016-03-01")
    prepared = data.prepare(df[~hole], 12, gaps=gaps)
    assert problems_by_series(prepared) == {"s0": ("gaps", action)}
    s0 = prepared.series[prepared.series["unique_id"] == "s0"]
    assert len(s0) == rows
    if gaps == "zero":
        assert s0.loc[s0["ds"] == "2016-03-01", "y"].item() == 0
    if gaps == "interpolate":
        around = pd.to_datetime(["2016-02-01", "2016-04-01"])
        neighbours = df[(df["unique_id"] == "s0") & df["ds"].isin(around)]
        assert s0.loc[s0["ds"] == "2016-03-01", "y"].item() == pytest.approx(
            neighbours["y"].mean())


@pytest.mark.parametrize("freq", ["MS", "W-WED", "QS-JAN", "D"])
def test_gaps_in_every_series_still_show_their_calendar(freq):
    """pandas infers no frequency from a series with a missing period; --gaps must still work."""
    periods = pd.date_range("2015-01-01", periods=48, freq=freq)
    df = good(2).assign(ds=np.tile(periods, 2))
    holes = df["ds"].isin(periods[[5, 30]])
    filled = data.prepare(df[~holes], 12, gaps="interpolate")
    assert pd.tseries.frequencies.to_offset(filled.freq).is_on_offset(periods[0])
    assert len(filled.series) == len(df)
    assert problems_by_series(filled) == {"s0": ("gaps", "filled"), "s1": ("gaps", "filled")}
    rejected = r"no series left on a regular \S+ calendar \(2 gaps\)"
    with pytest.raises(UnusableInputError, match=rejected):
        data.prepare(df[~holes], 12)


@pytest.mark.parametrize("freq, step", [("2W-MON", pd.Timedelta(weeks=2)),
                                        ("2MS", pd.DateOffset(months=2))])
def test_multiples_of_a_period_are_a_regular_calendar(freq, step):
    """Fortnightly data steps one period at a time; it is not weekly data with gaps."""
    df = good(2, periods=60).assign(ds=np.tile(pd.date_range("2015-01-05", periods=60,
                                                              freq=freq), 2))
    result = forecast(df, ForecastConfig(horizon=3, season_length=6, windows=2))
    assert result.problems.empty and result.freq == freq
    s0 = result.forecasts[result.forecasts["unique_id"] == "s0"]
    last = df["ds"].max()
    assert list(s0["ds"]) == [last + step, last + 2 * step, last + 3 * step]


def test_short_and_constant_series_fall_back_to_a_simpler_model():
    new = seasonal_panel(n_series=1, periods=15, start="2017-10-01")   # ends with the others
    df = pd.concat([good(1), new.assign(unique_id="short"),
                    good(1).assign(unique_id="flat", y=0.0)])
    prepared = data.prepare(df, 12)
    assert problems_by_series(prepared) == {"short": ("short_series", "fallback"),
                                            "flat": ("constant_series", "fallback")}
    assert set(prepared.fallback["unique_id"]) == {"short", "flat"}
    assert "window_average" in prepared.problems.set_index("unique_id").loc["short", "message"]


def test_nan_inf_and_out_of_range_shares_reject_only_their_series():
    df = good(4).assign(y=lambda d: d["y"] / d["y"].max())
    df.loc[df.index[df["unique_id"] == "s0"][3], "y"] = np.nan
    df.loc[df.index[df["unique_id"] == "s1"][5], "y"] = np.inf
    df.loc[df.index[df["unique_id"] == "s2"][7], "y"] = -0.1
    prepared = data.prepare(df, 12, shares=True)
    assert problems_by_series(prepared) == {"s0": ("non_finite", "rejected"),
                                            "s1": ("non_finite", "rejected"),
                                            "s2": ("not_a_share", "rejected")}
    assert set(prepared.series["unique_id"]) == {"s3"}


def test_irregular_dates_reject_the_series_and_unknown_frequency_is_unusable():
    df = good(2)
    shifted = df["unique_id"] == "s1"
    df.loc[shifted, "ds"] = df.loc[shifted, "ds"] + pd.Timedelta(days=3)
    prepared = data.prepare(df, 12, freq="MS")
    assert problems_by_series(prepared) == {"s1": ("irregular_dates", "rejected")}
    with pytest.raises(UnusableInputError, match="unknown frequency"):
        data.prepare(good(), 12, freq="fortnightly-ish")
    random_dates = good(1).assign(ds=pd.to_datetime("2020-01-01") + pd.to_timedelta(
        np.random.default_rng(0).choice(2000, 48, replace=False), unit="D"))
    with pytest.raises(UnusableInputError, match="cannot infer a regular frequency"):
        data.prepare(random_dates, 12)


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"id": [1], "ds": ["2020-01-01"], "y": [1]}), "missing column"),
    (pd.DataFrame({"unique_id": [], "ds": [], "y": []}), "no rows"),
    (pd.DataFrame({"unique_id": ["a"] * 3, "ds": ["x", "y", "z"], "y": [1, 2, 3]}), "no dates"),
    (pd.DataFrame({"unique_id": ["a"] * 3, "ds": [np.nan] * 3, "y": [1, 2, 3]}), "no dates"),
    # Misread silently, these would look like irregular calendars.
    (pd.DataFrame({"unique_id": ["a"] * 3, "ds": [0, 1, 2], "y": [1, 2, 3]}),
     "holds numbers"),
    (pd.DataFrame({"unique_id": ["a"] * 3, "ds": ["01/01/2018", "01/02/2018", "01/03/2018"],
                   "y": [1, 2, 3]}), "'01/02/2018' read differently day-first and month-first"),
    (pd.DataFrame({"unique_id": ["a"] * 3, "ds": ["2020-01-01", "2020-02-01", "2020-03-01"],
                   "y": ["1,234.5", "2,001.0", "1,998.2"]}),
     r"column y holds no numbers \(e.g. '1,234.5'\); write plain numbers"),
])
def test_input_unusable_as_a_whole(frame, message):
    with pytest.raises(UnusableInputError, match=message):
        data.prepare(frame, 12)


def test_engine_forecasts_the_good_series_and_names_the_bad_ones():
    df = pd.concat([good(3, periods=60), good(1, 20).assign(unique_id="short"),
                    good(1, 60).assign(unique_id="broken", y=np.nan)])
    result = forecast(df, ForecastConfig(horizon=6, season_length=12, windows=2))
    forecast_ids = set(result.forecasts["unique_id"])
    assert forecast_ids == {"s0", "s1", "s2", "short"}
    assert set(result.forecasts.loc[result.forecasts["unique_id"] == "short", "model"]) == {
        "window_average"}
    assert dict(zip(result.problems["unique_id"], result.problems["reason"], strict=True)) == {
        "short": "short_series", "broken": "non_finite"}


def test_day_first_dates_are_read_day_first_when_a_13th_day_settles_it():
    dates = pd.date_range("2024-01-01", periods=90, freq="D")
    df = pd.DataFrame({"unique_id": "daily", "ds": dates.strftime("%d/%m/%Y"),
                       "y": np.arange(90.0) % 7})
    prepared = data.prepare(df, 7)
    assert prepared.problems.empty and prepared.freq == "D"
    assert prepared.series["ds"].tolist() == dates.tolist()


PARIS_MONTHS = pd.date_range("2020-01-01", periods=36, freq="MS", tz="Europe/Paris")


@pytest.mark.parametrize("ds", [
    PARIS_MONTHS,                                                    # a tz-aware column
    [t.isoformat() for t in PARIS_MONTHS],                           # +01:00 and +02:00
    [t.strftime("%Y-%m-%d %H:%M:%S%z")[:-2] for t in PARIS_MONTHS],  # PostgreSQL's +02
], ids=["tz-aware", "iso-offsets", "postgres-offsets"])
def test_dates_with_utc_offsets_keep_their_local_calendar(ds):
    # In UTC, local midnight on 1 June is 22:00 on 31 May: a month-end calendar, one month off.
    prepared = data.prepare(pd.DataFrame({"unique_id": "a", "ds": ds, "y": np.arange(36.0) + 1}),
                            12)
    assert prepared.freq == "MS" and prepared.problems.empty
    assert list(prepared.series["ds"]) == list(PARIS_MONTHS.tz_localize(None))


def test_iso_week_labels_are_the_mondays_of_their_weeks():
    """StyleCast's own week key (2025-W14) reads as the Monday that starts the week, the
    weekly pipeline's W-MON calendar. A week its year does not have rejects only its series
    (pandas alone would roll 2021-W53 into 2022-W01)."""
    mondays = pd.date_range("2019-12-30", periods=120, freq="W-MON")   # 2020 has a week 53
    labels = [f"{year}-W{week:02d}" for year, week, _ in (d.isocalendar() for d in mondays)]
    no_week_53 = pd.DataFrame({"unique_id": "bad", "ds": ["2021-W52", "2021-W53", "2022W01"],
                               "y": 1.0})
    prepared = data.prepare(pd.concat([good(2, periods=120).assign(ds=np.tile(labels, 2)),
                                       no_week_53]), 52)
    assert prepared.freq == "W-MON"
    assert list(prepared.series.loc[prepared.series["unique_id"] == "s1", "ds"]) == list(mondays)
    assert problems_by_series(prepared) == {"bad": ("bad_date", "rejected")}


def test_rows_without_a_series_id_are_named_and_left_out():
    df = good(2)
    df["unique_id"] = df["unique_id"].astype(object)
    first_of_s1 = df.index[df["unique_id"] == "s1"][:4]
    df.loc[first_of_s1[:3], "unique_id"] = None     # the first three rows of s1
    df.loc[first_of_s1[3], "unique_id"] = " "
    prepared = data.prepare(df, 12)
    assert problems_by_series(prepared) == {"": ("missing_id", "rejected")}
    assert "4 row(s) have no unique_id" in prepared.problems["message"].item()
    assert set(prepared.series["unique_id"]) == {"s0", "s1"}, "no series named 'None' or 'nan'"
    assert len(prepared.series) == 2 * 48 - 4


def test_a_frequency_that_fits_no_series_is_one_clear_error():
    with pytest.raises(UnusableInputError, match="no series left on a regular W-MON calendar"):
        data.prepare(good(), 12, freq="W-MON")


def test_a_horizon_too_long_to_backtest_is_one_clear_error():
    with pytest.raises(UnusableInputError, match="use a shorter horizon"):
        forecast(good(2, periods=24), ForecastConfig(horizon=12, season_length=12))


def test_season_length_one_means_no_season_and_every_model_copes():
    result = forecast(good(2, periods=40), ForecastConfig(horizon=4, season_length=1,
                                                          windows=2), all_models=True)
    assert result.problems.empty
    counts = result.forecasts.groupby("model")["unique_id"].nunique()
    assert (counts == 2).all() and len(counts) >= 8, counts
    assert result.models["seasonal_ets"] == {"specs": {"ETS(A,N,N)": 2}}


def test_a_model_that_cannot_fit_the_panel_is_left_out_not_fatal():
    # The global model learns ratios to a positive level: an all-negative panel gives it
    # nothing to learn from. The others forecast, and the summary says why it is missing.
    df = good(3, periods=60).assign(y=lambda d: -d["y"])
    result = forecast(df, ForecastConfig(horizon=6, season_length=12, windows=2),
                      all_models=True)
    assert "global_gbm" not in set(result.forecasts["model"])
    assert {"seasonal_naive", "seasonal_ets", "ensemble_median"} <= set(result.forecasts["model"])
    assert any("global_gbm left out" in note for note in result.backtest.skipped)
    assert (result.forecasts.groupby("model")["unique_id"].nunique() == 3).all()
    # When it is the only candidate, the error says why, not "use a shorter horizon".
    with pytest.raises(UnusableInputError, match=r"no candidate model could forecast these "
                       r"series \(global_gbm: every series has negative values"):
        forecast(df, ForecastConfig(horizon=6, season_length=12, windows=2,
                                    candidates=("global_gbm",)))


def test_a_series_with_negative_values_is_combined_without_the_global_model():
    # The global model scales by a positive level: for the one negative series it gives no
    # forecast (it once gave 0, dragging the ensembles), and the ensembles use the others.
    df = good(3, periods=60)
    df.loc[df["unique_id"] == "s2", "y"] *= -1
    result = forecast(df, ForecastConfig(horizon=6, season_length=12, windows=2),
                      all_models=True)
    assert result.models["global_gbm"]["declined"] == 1
    wide = result.forecasts.pivot_table(index=["unique_id", "ds"], columns="model",
                                        values="yhat")
    assert wide.loc["s2", "global_gbm"].isna().all()
    assert wide.loc[["s0", "s1"], "global_gbm"].notna().all()
    others = wide.loc["s2", ["seasonal_naive", "optimized_theta", "seasonal_ets"]]
    assert np.allclose(wide.loc["s2", "ensemble_median"], others.median(axis=1))
    assert np.allclose(wide.loc["s2", "ensemble_mean"], others.mean(axis=1))
    assert (wide.loc["s2", "ensemble_weighted"] < 0).all()
    backtest_rows = result.backtest.rows
    assert "s2" not in set(backtest_rows.loc[backtest_rows["model"] == "global_gbm", "unique_id"])
    assert result.chosen != "global_gbm"
    chosen = result.forecasts[result.forecasts["model"] == result.chosen]
    assert chosen["unique_id"].nunique() == 3
    # Alone, the global model leaves that series to the fallback, named as a problem.
    alone = forecast(df, ForecastConfig(horizon=6, season_length=12, windows=2,
                                        candidates=("global_gbm",)))
    assert problems_by_series(alone) == {"s2": ("declined", "fallback")}
    assert alone.forecasts.groupby("unique_id")["model"].first().to_dict() == {
        "s0": "global_gbm", "s1": "global_gbm", "s2": "window_average"}


def test_a_short_quarterly_panel_is_forecast_with_the_default_pool():
    # Three years of quarters: too few values for ETS's parameters, so statsforecast raises
    # "tiny datasets" for those series. That once ended the run with a traceback; now the
    # ETS candidate declines them and the others forecast every series.
    df = seasonal_panel(n_series=3, periods=12, season=4, freq="QS")
    result = forecast(df, ForecastConfig(horizon=2, season_length=4), all_models=True)
    counts = result.forecasts.groupby("model")["unique_id"].nunique()
    assert counts[result.chosen] == 3 and counts["ensemble_median"] == 3
    assert result.forecasts["yhat"].notna().all()
    assert result.problems.empty


def test_a_series_statsforecast_cannot_fit_is_declined_and_the_rest_forecast():
    df = good(3, periods=48)
    short = df[df["unique_id"] == "s2"].tail(5)         # AutoETS: "tiny datasets"
    df = pd.concat([df[df["unique_id"] != "s2"], short])
    model = StatsModel("auto_ets", 12).fit(df)
    assert model.declined_ == ["s2"] and model.learned()["declined"] == 1
    out = model.predict(6, level=[80])
    assert sorted(out["unique_id"].unique()) == ["s0", "s1"] and out["yhat"].notna().all()
    # Fitted in two worker processes, the same series is declined and the rest agree.
    parallel = StatsModel("auto_ets", 12, n_jobs=2).fit(df)
    assert parallel.declined_ == ["s2"]
    pd.testing.assert_frame_equal(parallel.predict(6, level=[80]), out)
    # Alone, the engine gives such a series the fallback and names it (four values are two
    # seasons of length one, so it passes the input checks and reaches the model).
    tiny = seasonal_panel(n_series=1, periods=4, season=1).assign(unique_id="tiny")
    result = forecast(pd.concat([good(2, periods=24), tiny]), ForecastConfig(
        horizon=1, season_length=1, windows=1, candidates=("auto_ets",)))
    assert problems_by_series(result) == {"tiny": ("declined", "fallback")}
    assert result.forecasts["unique_id"].nunique() == 3
    with pytest.raises(ValueError, match="could fit none of the series"):
        StatsModel("auto_ets", 12).fit(short)


def test_gzipped_and_semicolon_files_read_like_the_plain_csv(tmp_path):
    df = good(2, periods=30)
    plain, packed = tmp_path / "series.csv", tmp_path / "series.csv.gz"
    df.to_csv(plain, index=False)
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    parquet = tmp_path / "series.parquet.gz"
    parquet.write_bytes(gzip.compress(df.to_parquet(index=False)))
    expected, _ = read_series(str(plain))
    for path in (packed, parquet):
        frame, _ = read_series(str(path))
        pd.testing.assert_frame_equal(data.prepare(frame, 12).series,
                                      data.prepare(expected, 12).series)
    european = tmp_path / "series-eu.csv"     # a spreadsheet's export in many European locales
    df.to_csv(european, index=False, sep=";", decimal=",")
    frame, _ = read_series(str(european))
    pd.testing.assert_frame_equal(data.prepare(frame, 12).series,
                                  data.prepare(expected, 12).series)
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(packed.read_bytes()[:40])
    with pytest.raises(UnusableInputError, match=r"cut.csv.gz: unreadable"):
        read_series(str(cut))


def weekly_counts(n_series: int, rate: float, seed: int, prefix: str) -> pd.DataFrame:
    """Weekly shares of 1000 items: Poisson counts around ``rate`` with a yearly season."""
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2022-01-03", periods=156, freq="W-MON")
    season = 1 + 0.5 * np.sin(2 * np.pi * np.arange(156) / 52)
    return pd.concat([pd.DataFrame({"unique_id": f"{prefix}{i}", "ds": weeks,
                                    "y": rng.poisson(rate * season) / 1000})
                      for i in range(n_series)], ignore_index=True)


def test_intermittent_series_do_not_drag_the_global_model_to_zero():
    # Rare attribute values are zero most weeks. Mostly-zero targets once made every
    # absolute-error gradient alike: the global model forecast 0 for every series, the
    # regular ones too, and the ensembles called stable series declining.
    regular = weekly_counts(6, rate=10, seed=1, prefix="regular")
    rare = weekly_counts(10, rate=0.2, seed=2, prefix="rare")
    model = GlobalGBM(52, max_horizon=12, max_iter=50).fit(pd.concat([regular, rare]))
    assert sorted(model.declined_) == sorted(rare["unique_id"].unique())
    totals = model.predict(12).groupby("unique_id")["yhat"].sum()
    last_year = regular[regular["ds"] >= "2024-01-01"].groupby("unique_id")["y"].sum() * 12 / 52
    assert set(totals.index) == set(last_year.index)
    assert (totals / last_year).between(0.7, 1.4).all(), totals / last_year
    with pytest.raises(ValueError, match="zero at least half the time"):
        GlobalGBM(52, max_horizon=12, max_iter=5).fit(rare)


def test_share_forecasts_stay_between_zero_and_one_for_every_model():
    # Additive ETS puts the seasonal dips of a rare value's share below 0.
    df = weekly_counts(8, rate=0.2, seed=3, prefix="s")
    result = forecast(df, ForecastConfig(horizon=12, season_length=52, shares=True),
                      all_models=True)
    values = result.forecasts.filter(like="yhat")
    assert ((values >= 0) & (values <= 1)).all().all()
    assert (result.forecasts["yhat_lo_80"] <= result.forecasts["yhat"]).all()
    assert (result.forecasts["yhat"] <= result.forecasts["yhat_hi_80"]).all()


def test_a_series_that_ends_early_is_forecast_from_its_end_and_named():
    # A discontinued item: its forecasts and trend call cover earlier months than the rest.
    df = good(3, periods=48)
    df = df[(df["unique_id"] != "s2") | (df["ds"] < "2018-07-01")]
    result = forecast(df, ForecastConfig(horizon=3, season_length=12, windows=2))
    assert problems_by_series(result) == {"s2": ("ended_early", "kept")}
    assert "2018-06-01, 6 period(s) before the panel's" in result.problems["message"].iloc[0]
    starts = result.forecasts.groupby("unique_id")["ds"].min()
    assert starts["s2"] == pd.Timestamp("2018-07-01") and starts["s0"] == pd.Timestamp("2019-01-01")
    assert set(result.trends["unique_id"]) == {"s0", "s1", "s2"}
