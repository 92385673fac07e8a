"""`stylecast forecast` / `backtest` from a fresh process: files, exit codes, MLflow runs."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from forecast_fixtures import seasonal_panel
from helpers import run_cli, shared
from mlflow.tracking import MlflowClient

from forecasting.engine import DEFAULT_PICK, ENSEMBLES, SWITCH_MARGIN

CONTRACT = ["unique_id", "ds", "model", "yhat", "yhat_lo_80", "yhat_hi_80", "yhat_lo_95",
            "yhat_hi_95"]


def client(home) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")


@pytest.fixture
def series_file(tmp_path):
    df = pd.concat([seasonal_panel(n_series=3, periods=60),
                    seasonal_panel(1, 60).assign(unique_id="broken", y=np.nan),
                    seasonal_panel(1, 14, start="2018-11-01").assign(unique_id="short")])
    path = tmp_path / "series.csv"
    df.to_csv(path, index=False)
    return path


def test_forecast_writes_the_contract_and_logs_to_mlflow(series_file, tmp_path, home):
    out = tmp_path / "forecasts.parquet"
    done = run_cli(["forecast", str(series_file), "--horizon", "6", "--season-length", "12",
                    "--level", "80", "--level", "95", "--windows", "2", "--out", str(out),
                    "--trends", str(tmp_path / "trends.csv")], home)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    # Read back by another client: DuckDB on the Parquet file.
    frame = duckdb.sql(f"SELECT * FROM '{out}'").df()
    assert list(frame.columns) == CONTRACT
    assert set(frame["unique_id"]) == {"s0", "s1", "s2", "short"}
    assert not frame.duplicated(["unique_id", "ds"]).any()
    assert summary["chosen_model"] in set(frame["model"])
    reasons = {p["unique_id"]: p["reason"] for p in summary["problems"]}
    assert reasons == {"broken": "non_finite", "short": "short_series"}
    trends = pd.read_csv(tmp_path / "trends.csv")
    assert {"growth", "label", "p_rising", "p_stable", "p_declining", "emerging"} <= set(
        trends.columns)

    mlflow = client(home)
    run = mlflow.get_run(summary["mlflow_run_id"])
    experiment = mlflow.get_experiment(run.info.experiment_id)
    assert experiment.name == "stylecast-forecast"
    assert run.data.params["horizon"] == "6" and run.data.params["season_length"] == "12"
    assert f"backtest.{summary['chosen_model']}.mase" in run.data.metrics
    assert len(run.data.tags["stylecast.input_hash"]) == 16
    assert run.data.tags["stylecast.chosen_model"] == summary["chosen_model"]
    artifacts = {a.path for a in mlflow.list_artifacts(run.info.run_id)}
    assert {"forecasts.parquet", "trends.csv", "problems.csv", "backtest.csv",
            "models.json"} <= artifacts

    # What each fitted model chose is in the summary and in MLflow: specs per series add up.
    models = summary["models"]
    logged = json.loads((Path(mlflow.download_artifacts(run.info.run_id, "models.json",
                                                         str(tmp_path)))).read_text())
    assert logged == models
    assert models["window_average"] == {"window": 12}, "the short series' fallback"
    members = set(models) - {"window_average"}
    chosen = summary["chosen_model"]
    assert chosen in members | set(ENSEMBLES), chosen
    # The median ensemble stands unless another candidate's backtest beats it clearly.
    if chosen != DEFAULT_PICK:
        mase = run.data.metrics
        assert mase[f"backtest.{chosen}.mase"] < (1 - SWITCH_MARGIN) * mase[
            f"backtest.{DEFAULT_PICK}.mase"]
    for learned in models.values():
        if "specs" in learned:
            assert sum(learned["specs"].values()) == 3


def test_models_all_adds_every_models_rows(series_file, tmp_path, home):
    out = tmp_path / "all.csv"
    done = run_cli(["forecast", str(series_file), "--horizon", "6", "--season-length", "12",
                    "--windows", "2", "--models", "all", "--no-track", "--jobs", "2",
                    "--out", str(out)], home)
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(out)
    assert {"seasonal_naive", "optimized_theta", "seasonal_ets", "global_gbm", "harmonic",
            "ensemble_median"} <= set(frame["model"])
    assert not (home / "mlflow.db").exists(), "--no-track leaves MLflow alone"


def test_backtest_prints_and_writes_a_metrics_table(home):
    series = shared("trend-series", "us_clothing_store_sales.csv")
    done = run_cli(["backtest", str(series), "--horizon", "12", "--season-length", "12",
                    "--windows", "2", "--models", "seasonal_naive,auto_theta,global_gbm"], home)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    table = pd.read_csv(summary["out"])
    assert summary["out"].startswith(str(home / "backtests"))
    assert {"seasonal_naive", "auto_theta", "global_gbm", "ensemble_mean"} <= set(table["model"])
    assert (table["n_windows"] == 2).all()
    assert table["mase"].between(0.05, 5).all()
    assert "mase" in done.stderr and "global_gbm" in done.stderr, "the table is printed"
    run = client(home).get_run(summary["mlflow_run_id"])
    assert run.data.params["windows"] == "2"


@pytest.mark.parametrize("content, message", [
    ("", "file is empty"),
    ("a,b\n1,2\n", "missing column(s) unique_id, ds, y"),
    ("unique_id,ds,y\nx,2020-01-07,1\nx,2020-03-02,2\nx,2020-03-30,3\nx,2020-09-11,4\n",
     "cannot infer a regular frequency"),
    ("unique_id,ds,y\nx,01/01/2018,1\nx,01/02/2018,2\nx,01/03/2018,3\n",
     "write dates as YYYY-MM-DD"),
])
def test_unusable_files_exit_2_with_one_line(tmp_path, home, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    out = tmp_path / "never.csv"
    done = run_cli(["forecast", str(path), "--horizon", "3", "--season-length", "12", "--out",
                    str(out)], home)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr and not out.exists()


def test_bad_options_exit_2(series_file, tmp_path, home):
    for extra in (["--freq", "sometimes"], ["--candidates", "prophet"], ["--level", "120"],
                  ["--gaps", "guess"], ["--level", "80", "lots"], ["--jobs", "0"]):
        done = run_cli(["forecast", str(series_file), "--horizon", "3", "--season-length", "12",
                        "--no-track", "--out", str(tmp_path / "x.csv"), *extra], home)
        assert done.returncode == 2, extra
        if extra[0] == "--gaps":   # a choice: the parser's usage error, before any work
            assert "'guess' is not one of 'reject', 'zero', 'interpolate'" in \
                " ".join(done.stderr.replace("│", " ").split()), done.stderr
        else:
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_unreachable_mlflow_server_is_a_clear_error_before_any_output(series_file, tmp_path,
                                                                      home):
    out = tmp_path / "never.csv"
    done = run_cli(["forecast", str(series_file), "--horizon", "3", "--season-length", "12",
                    "--out", str(out)], home, MLFLOW_TRACKING_URI="http://127.0.0.1:9")
    assert done.returncode == 4
    assert "MLflow tracking server http://127.0.0.1:9 is unreachable" in done.stderr
    assert not out.exists()


@pytest.mark.integration
def test_forecast_logs_to_a_running_mlflow_server(series_file, tmp_path, home, mlflow_server):
    done = run_cli(["forecast", str(series_file), "--horizon", "6", "--season-length", "12",
                    "--windows", "2", "--out", str(tmp_path / "f.csv")], home,
                   MLFLOW_TRACKING_URI=mlflow_server)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout.strip().splitlines()[-1])["mlflow_run_id"]
    remote = MlflowClient(tracking_uri=mlflow_server)
    run = remote.get_run(run_id)
    assert remote.get_experiment(run.info.experiment_id).name == "stylecast-forecast"
    assert "forecasts.parquet" in {a.path for a in remote.list_artifacts(run_id)}
    local = remote.download_artifacts(run_id, "forecasts.parquet", str(tmp_path))
    assert list(pd.read_parquet(local).columns) == CONTRACT
