"""Attribute-share series from real observations, and MLflow run tagging and reuse."""

from __future__ import annotations

import subprocess
from datetime import date

import numpy as np
import pandas as pd
from helpers import REPO, shared

from pipeline.core import tracking
from pipeline.core.settings import Settings
from pipeline.series.transforms import attribute_shares
from pipeline.simulate.run import draw
from pipeline.simulate.scenario import random_scenario
from pipeline.sources import streetstyle


def test_streetstyle_monthly_shares():
    observations = pd.read_csv(shared("streetstyle27k", "observations.csv"), dtype=str)
    every = attribute_shares(observations, "created_time", streetstyle.ATTRIBUTES, "MS")
    # Shares of one attribute's values sum to one in every month (blank = not labelled).
    sums = every.assign(attribute=every["unique_id"].str.split("=").str[0]).groupby(
        ["attribute", "ds"])["y"].sum()
    np.testing.assert_allclose(sums, 1.0)
    common = attribute_shares(observations, "created_time", streetstyle.ATTRIBUTES, "MS",
                              min_mean_share=0.05)
    sizes = common.groupby("unique_id").size()
    assert len(sizes) == 33 and (sizes == 30).all()
    assert common["ds"].min() == pd.Timestamp("2013-07-01")
    assert set(common["kind"]) == {"attribute"}
    jackets = common[common["unique_id"] == "wearing_jacket=Yes"].set_index("ds")
    assert (jackets["count"] / jackets["n"]).equals(jackets["y"])


def test_label_draws_match_planted_shares_on_a_random_scenario():
    scenario = random_scenario(3, 5, 60, np.random.default_rng(0), items_per_week=5000)
    truth = draw(scenario, 60, date(2024, 1, 1), seed=2).truth
    observed = truth["count"] / truth["n"]
    assert truth.groupby(["week", "attribute"])["share"].sum().round(9).eq(1).all()
    # Multinomial sampling noise at 5000 items a week: a few standard errors at most.
    standard_error = np.sqrt(truth["share"] * (1 - truth["share"]) / truth["n"])
    assert ((observed - truth["share"]).abs() <= 5 * standard_error + 1e-9).all()


def test_runs_are_tagged_and_a_retried_task_reuses_its_run(tmp_path, monkeypatch):
    import mlflow

    settings = Settings(home=str(tmp_path / "home"))
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "weekly_trends")
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "scheduled__2025-04-07")
    monkeypatch.setenv("AIRFLOW_CTX_TASK_ID", "forecast")
    with tracking.mlflow_run(settings, "stylecast-test", "first", "abc123", {"h": 12}) as run:
        mlflow.log_metric("loss", 1.0, step=0)
        first = run.info.run_id
    with tracking.mlflow_run(settings, "stylecast-test", "retry", "abc123", {"h": 12}) as run:
        mlflow.log_metric("loss", 0.5, step=1)
        assert run.info.run_id == first, "a retry reopens the same run"
    data = mlflow.get_run(first).data
    assert data.tags["airflow.dag_id"] == "weekly_trends"
    assert data.tags["stylecast.run_key"] == "weekly_trends/scheduled__2025-04-07/forecast"
    assert data.tags["stylecast.input_hash"] == "abc123"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert data.tags["stylecast.git_commit"] == head, "the commit of the code that ran"
    monkeypatch.delenv("AIRFLOW_CTX_DAG_RUN_ID")
    with tracking.mlflow_run(settings, "stylecast-test", "manual", "abc123", {"h": 12}) as run:
        assert run.info.run_id != first, "outside Airflow every run is new"
