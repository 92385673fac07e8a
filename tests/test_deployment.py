"""A real deployment on 127.0.0.1, driven over Airflow's REST API.

PostgreSQL (Debian package) holds Airflow's metadata and MLflow's backend store;
``airflow api-server``, ``scheduler`` and ``dag-processor`` run with the LocalExecutor;
``mlflow server`` serves tracking and artifacts. The test triggers the GAN training DAG
with a conf, waits for it, then checks MLflow for the run, its metrics and the champion.
The weekly report DAG over REST, with more workers and faults, is ``test_distributed``'s.

Wiring that matters (each was a failure before it was set):
* ``[core] execution_api_server_url`` follows the API server's address: tasks report
  their state to it, and otherwise call the default port;
* ``[api_auth] jwt_secret`` is shared by every component: the scheduler signs the tokens
  tasks present to the API server;
* the scheduler creates runs itself (``use_job_schedule``, needed for asset-triggered
  runs); the weekly report's Monday schedule does not fire at start (catchup off, and a
  cron trigger waits for its next time), so only what the test triggers runs.
"""

from __future__ import annotations

import sys

import pytest
from _support.airflow_api import AirflowApi
from _support.airflow_local import server_environment
from _support.services import Service, start_airflow, start_postgres, wait_http
from helpers import free_port

pytestmark = pytest.mark.integration
USER = "stylecast"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    root = tmp_path_factory.mktemp("deployment")
    postgres = start_postgres(free_port())
    services: list[Service] = []
    try:
        for database in ("airflow", "mlflow"):
            postgres.create_database(database)
        mlflow_port, api_port = free_port(), free_port()
        tracking = f"http://127.0.0.1:{mlflow_port}"
        mlflow = Service("mlflow", [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
            str(mlflow_port), "--workers", "1", "--backend-store-uri", postgres.url("mlflow"),
            "--artifacts-destination", str(root / "mlflow-artifacts")],
            {**_base_env(), "MLFLOW_TRACKING_URI": ""}, root)
        services.append(mlflow)
        wait_http(f"{tracking}/health", mlflow)

        env = server_environment(
            {**_base_env(), "STYLECAST_HOME": str(root / "home"),
             "MLFLOW_TRACKING_URI": tracking},
            root / "airflow", postgres.url("airflow"), api_port, "LocalExecutor", USER)
        env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "true"
        services += start_airflow(env, api_port, root).values()
        base = f"http://127.0.0.1:{api_port}"
        wait_http(f"{base}/api/v2/monitor/health", services[1])
        api = AirflowApi(base, root / "airflow", USER,
                         lambda: "\n".join(s.log_tail(1500) for s in services[1:]))
        yield {"api": api, "tracking": tracking}
    finally:
        for service in reversed(services):
            service.stop()
        postgres.stop()


def _base_env() -> dict[str, str]:
    import os

    return {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "STYLECAST_WORKERS": "2"}


def test_invalid_params_are_rejected_before_any_run(deployment):
    api = deployment["api"]
    for conf in ({"max_kimg": -1}, {"dataset": "imagenet"}, {"seed": "one"}):
        response = api.trigger("stylecast_gan_training", conf)
        assert response.status_code == 400, (conf, response.status_code, response.text)
        assert "param" in response.text.lower()
    runs = api.request("GET", "/dags/stylecast_gan_training/dagRuns").json()
    assert runs["total_entries"] == 0


def test_gan_training_over_rest_runs_on_the_gpu_queue_and_is_tracked(deployment):
    from mlflow.tracking import MlflowClient

    api = deployment["api"]
    started = api.trigger("stylecast_gan_training", {"dataset": "fashion-mnist",
                                                      "preset": "baby", "max_kimg": 0.05,
                                                      "seed": 1})
    assert started.status_code == 200, started.text
    gan_run = started.json()["dag_run_id"]
    assert api.wait_run("stylecast_gan_training", gan_run) == "success", \
        api.describe("stylecast_gan_training", gan_run)
    train = next(t for t in api.task_instances("stylecast_gan_training", gan_run)
                 if t["task_id"] == "train")
    assert (train["queue"], train["pool"]) == ("gpu", "gpu")
    check_gan_run(MlflowClient(deployment["tracking"]), gan_run)
    events = api.request("GET", "/assets/events", params={
        "source_dag_id": "stylecast_gan_training", "source_run_id": gan_run}).json()
    champion = [e for e in events["asset_events"] if e["name"] == "stylecast_gan_champion"]
    assert len(champion) == 1, events
    assert champion[0]["extra"]["alias"] == "champion-fashion-mnist"


def test_new_items_trigger_the_weekly_report_through_the_items_asset(deployment):
    """An ingest's asset event reaches the weekly DAG through the scheduler; items only for
    a week not reported yet leave the run with nothing to do (the Monday run covers them)."""
    import time

    api = deployment["api"]
    api.wait_parsed("stylecast_weekly_report")
    assets = api.request("GET", "/assets", params={"name_pattern": "stylecast_items"}).json()
    asset_id = next(a["id"] for a in assets["assets"] if a["name"] == "stylecast_items")
    posted = api.request("POST", "/assets/events",
                         json={"asset_id": asset_id, "extra": {"weeks": ["2026-W05"]}})
    assert posted.status_code == 200, posted.text
    deadline, runs = time.monotonic() + 180, []
    while not runs:
        assert time.monotonic() < deadline, api.on_timeout()
        time.sleep(2)
        runs = [r for r in api.request("GET", "/dags/stylecast_weekly_report/dagRuns").json()
                ["dag_runs"] if r["run_type"] == "asset_triggered"]
    run_id = runs[0]["dag_run_id"]
    assert api.wait_run("stylecast_weekly_report", run_id, timeout=300) == "success", \
        api.describe("stylecast_weekly_report", run_id)
    states = {t["task_id"]: t["state"] for t in
              api.task_instances("stylecast_weekly_report", run_id)}
    assert set(states.values()) == {"skipped"}, states


def check_gan_run(client, gan_run: str) -> None:
    """One GAN DAG run in MLflow: its run with the final metrics, and a champion model."""
    gan = client.search_runs([client.get_experiment_by_name("stylecast-gan").experiment_id],
                             f"tags.`airflow.run_id` = '{gan_run}'")
    assert len(gan) == 1 and "final.fd" in gan[0].data.metrics
    assert client.get_model_version_by_alias("stylecast-gan", "champion-fashion-mnist")
