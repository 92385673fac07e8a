"""The Airflow DAGs: they parse cleanly and thinly, and run end to end with `airflow dags test`."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time

import pytest
from _support.airflow_local import REPO, airflow, dags_test, environment, prepare, succeeded
from airflow.sdk import DeadlineReference
from helpers import cli_json, copy_home
from receivers import mail_text, notify_env, smtp_server, webhook_server

from pipeline.jobs.notify import StyleCastNotifier
from pipeline.jobs.tasks import airflow_task

DAG_IDS = {"stylecast_ingest", "stylecast_weekly_report", "stylecast_gan_training",
           "stylecast_forget"}


def test_dagbag_imports_cleanly_with_owner_tags_and_retries():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"), known_pools={"default_pool", "gpu"})
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == DAG_IDS
    for dag in bag.dags.values():
        assert dag.tags and "stylecast" in dag.tags, dag.dag_id
        for task in dag.tasks:
            assert task.owner == "stylecast" and task.retries >= 1, (dag.dag_id, task.task_id)
            assert task.execution_timeout is not None, (dag.dag_id, task.task_id)
    ingest = bag.dags["stylecast_ingest"]
    assert ingest.schedule == "*/15 * * * *" and ingest.max_active_runs == 1, \
        "new manifests are picked up without a person"
    gan = bag.dags["stylecast_gan_training"]
    assert gan.schedule is None, "GAN training is triggered by hand only"
    train = gan.get_task("train")
    assert (train.queue, train.pool) == ("gpu", "gpu")
    weekly = bag.dags["stylecast_weekly_report"]
    assert weekly.timetable.timetable.expression == "0 6 * * 1" and weekly.max_active_runs == 1
    assert weekly.timetable.asset_condition.name == "stylecast_items", \
        "a week already reported is rebuilt when late items land"
    assert weekly.deadline and weekly.deadline[0].reference == \
        DeadlineReference.DAGRUN_QUEUED_AT, "a late Monday run is announced"
    report = weekly.get_task("report")
    assert [o.name for o in report.outlets] == ["stylecast_weekly_report"]
    assert _notifies(report.on_success_callback, "report")
    assert [o.name for o in gan.get_task("publish_champion").outlets] == [
        "stylecast_gan_champion"]
    for dag in bag.dags.values():
        for task in dag.tasks:
            assert _notifies(task.on_failure_callback, "failure"), (dag.dag_id, task.task_id)
    order = [t.task_id for t in weekly.topological_sort()]
    assert order == ["resolve_week", "embed", "styles", "series", "forecast", "concepts",
                     "report"]


def _notifies(callbacks, event: str) -> bool:
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
    return any(isinstance(c, StyleCastNotifier) and c.event == event for c in callbacks)


def test_parsing_dag_files_imports_neither_torch_nor_pandas_and_is_fast():
    code = (
        "import sys, time, runpy, airflow.sdk\n"
        "start = time.perf_counter()\n"
        f"for name in {sorted(DAG_IDS)!r}:\n"
        f"    runpy.run_path('{REPO}/dags/' + name + '.py')\n"
        "print(time.perf_counter() - start, 'torch' in sys.modules, 'pandas' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[1:] == ["False", "False"], "a DAG file imported torch or pandas at parse time"
    assert float(out[0]) < 1.0, f"parsing the three DAG files took {out[0]} s"


def test_airflow_ruff_rules_pass():
    ruff = REPO / ".venv" / "bin" / "ruff"
    done = subprocess.run([str(ruff) if ruff.exists() else "ruff", "check", "--preview",
                           "--select", "AIR", "dags"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout


def test_report_week_is_the_last_complete_week_or_the_requested_one():
    from pipeline.jobs.tasks import report_week

    assert report_week("2025-04-07T06:00:00+00:00") == "2025-W14"   # Monday run: last week
    assert report_week("2025-04-09T12:00:00+00:00") == "2025-W14"   # mid-week manual run
    assert report_week(None, "2024-W52") == "2024-W52"
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="not an ISO week"):
        report_week(None, "2024-52")


def test_bad_input_fails_for_good_and_a_down_service_is_retried(tmp_path, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.core.errors import ServiceUnavailable
    from pipeline.jobs.tasks import weekly_step

    monkeypatch.setenv("STYLECAST_HOME", str(tmp_path / "empty"))
    with pytest.raises(AirflowFailException, match="no items"):
        weekly_step("embed", "2025-W14")
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("STYLECAST_HOME", str(tmp_path / "home"))
    with pytest.raises(ServiceUnavailable, match=r"MLflow tracking server .* is unreachable"):
        weekly_step("report", "2025-W14")


def _pool_in_a_forked_task(home: str, through_airflow_task: bool) -> str:
    """What Airflow on Celery does: the (daemonic) prefork worker forks the task process."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:   # the task process
        os.close(read)
        os.environ["STYLECAST_HOME"] = home

        def work() -> str:
            with multiprocessing.get_context("fork").Pool(2) as pool:
                return str(pool.map(abs, [-1, -2]))
        try:
            message = airflow_task(work)() if through_airflow_task else work()
        except AssertionError as err:
            message = str(err)
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as answer:
        return answer.read()


def test_a_task_on_a_celery_worker_can_start_worker_processes(tmp_path):
    from billiard.pool import Pool as CeleryPrefork

    home = str(tmp_path)
    with CeleryPrefork(1) as celery:
        bare, task = celery.starmap(_pool_in_a_forked_task, [(home, False), (home, True)])
    assert "daemonic processes are not allowed to have children" in bare
    assert task == "[1, 2]", "every StyleCast task may run worker pools, on Celery too"


@pytest.fixture(scope="module")
def airflow_env(weekly_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("airflow")
    home = copy_home(weekly_store, root / "home")
    env = environment(root / "airflow-home", home)
    prepare(env)
    return {"env": env, "home": home, "store": weekly_store}


@pytest.mark.integration
def test_weekly_dag_runs_end_to_end_and_backfills_each_week_into_its_own_partition(
        airflow_env):
    env, home, weeks = airflow_env["env"], airflow_env["home"], airflow_env["store"]["weeks"]
    for week in (weeks[-2], weeks[-1]):
        done = dags_test(env, "stylecast_weekly_report", {"week": week})
        assert succeeded(done), done.stdout[-4000:] + done.stderr[-4000:]
        report = json.loads((home / "reports" / week / "report.json").read_text())
        assert report["week"] == week and report["highlighted"]
    for dataset in ("series", "forecasts", "styles", "concepts"):
        assert {p.name for p in (home / dataset).glob("week=*")} >= {
            f"week={weeks[-2]}", f"week={weeks[-1]}"}, dataset

    # The same week again (a retry or a re-run): same files, replaced, one MLflow run per task.
    before = sorted(p.relative_to(home) for p in (home / "reports").rglob("*") if p.is_file())
    done = dags_test(env, "stylecast_weekly_report", {"week": weeks[-1]})
    assert succeeded(done)
    after = sorted(p.relative_to(home) for p in (home / "reports").rglob("*") if p.is_file())
    assert before == after

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("stylecast-forecast")
    runs = client.search_runs([experiment.experiment_id],
                              "tags.`airflow.dag_id` = 'stylecast_weekly_report'")
    assert len(runs) == 3, "one forecast run per DAG run"
    tags = runs[0].data.tags
    assert {"airflow.run_id", "airflow.task_id", "airflow.try_number",
            "airflow.logical_date"} <= set(tags)
    assert tags["airflow.task_id"] == "forecast"
    report_runs = client.search_runs(
        [client.get_experiment_by_name("stylecast-report").experiment_id])
    assert any(a.path == "report/index.html" for a in
               client.list_artifacts(report_runs[0].info.run_id, "report"))

    compare = subprocess.run([sys.executable, "-m", "pipeline.cli", "runs", "compare",
                              "--experiment", "stylecast-forecast", "--last", "3",
                              "--metric", "mase"], env=env, capture_output=True, text=True)
    assert compare.returncode == 0, compare.stderr
    assert "backtest.seasonal_naive.mase" in compare.stdout
    assert compare.stdout.count(f"forecast-{weeks[-1]}") == 2


@pytest.mark.integration
def test_weekly_dag_without_a_gan_champion_still_reports_and_announces_the_report(
        airflow_env, tmp_path):
    from mlflow.tracking import MlflowClient

    home = copy_home({"home": airflow_env["home"]}, tmp_path / "home")
    MlflowClient(f"sqlite:///{home / 'mlflow.db'}").delete_registered_model_alias(
        "stylecast-gan", "champion-items")
    week = airflow_env["store"]["weeks"][-3]
    with smtp_server() as smtp, webhook_server() as hook:
        env = environment(tmp_path / "airflow-home", home, **notify_env(smtp, hook),
                          STYLECAST_REPORT_URL="https://reports.example.org/stylecast/")
        prepare(env)
        done = dags_test(env, "stylecast_weekly_report", {"week": week})
    assert succeeded(done), done.stdout[-3000:]
    assert "concepts skipped for" in done.stdout + done.stderr
    report = json.loads((home / "reports" / week / "report.json").read_text())
    assert report["concepts"]["items"] == [] and "champion" in report["concepts"]["note"]

    summary = (home / "reports" / week / "summary.md").read_text()
    page = f"https://reports.example.org/stylecast/{week}/index.html"
    assert len(smtp.received) == 1 and len(hook.received) == 1, "one report, one message each"
    mail, call = smtp.received[0], hook.received[0]
    assert week in mail["Subject"] and mail["X-Envelope-To"] == "analyst@example.org"
    first_line = summary.strip().splitlines()[0]
    assert first_line.replace("&", "&amp;") in mail_text(mail) and page in mail_text(mail)
    assert call["event"] == "report" and call["week"] == week
    assert call["text"].startswith(summary.strip()) and call["links"]["url"] == page
    assert call["links"]["page"] == str(home / "reports" / week / "index.html")


@pytest.mark.integration
def test_a_failing_task_sends_one_email_and_one_webhook_call(airflow_env, tmp_path):
    with smtp_server() as smtp, webhook_server() as hook:
        env = {**airflow_env["env"], "STYLECAST_HOME": str(tmp_path / "no-such-home"),
               **notify_env(smtp, hook)}
        done = dags_test(env, "stylecast_weekly_report", {"week": "2026-W05"})
    assert not succeeded(done)
    assert len(smtp.received) == 1 and len(hook.received) == 1, \
        "unusable input fails for good: one failure, one message per channel"
    call = hook.received[0]
    assert call["event"] == "failure" and call["dag_id"] == "stylecast_weekly_report"
    assert call["task_id"] == "embed" and call["reason"].startswith("UnusableInputError: no items")
    assert "run stylecast ingest first" in call["text"] and "/tasks/embed" in call["log_url"]
    assert "failed: stylecast_weekly_report.embed" in smtp.received[0]["Subject"]
    assert "run stylecast ingest first" in mail_text(smtp.received[0])


@pytest.mark.integration
def test_gan_training_dag_trains_registers_and_rejects_bad_params(airflow_env):
    env = airflow_env["env"]
    for bad in ({"max_kimg": -1}, {"dataset": "imagenet"}, {"seed": "one"},
                {"preset": "huge"}):
        done = dags_test(env, "stylecast_gan_training", bad)
        output = done.stdout + done.stderr
        assert done.returncode != 0 and "ParamValidationError" in output, bad
        assert "Task started" not in output, "no task may run on invalid params"
    # What `make demo` runs: the items, the CPU recipe, a wall-clock budget (here short).
    started = time.monotonic()
    done = dags_test(env, "stylecast_gan_training",
                     {"dataset": "items", "preset": "small", "max_minutes": 0.25, "seed": 3})
    assert succeeded(done), done.stdout[-4000:] + done.stderr[-4000:]
    assert time.monotonic() - started < 420

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{airflow_env['home'] / 'mlflow.db'}")
    versions = client.search_model_versions("name = 'stylecast-gan'")
    newest = max(versions, key=lambda v: int(v.version))
    run = client.get_run(newest.run_id)
    assert run.data.tags["airflow.dag_id"] == "stylecast_gan_training"
    assert run.data.params["seed"] == "3" and run.data.params["dataset"] == "items"
    assert run.data.params["max_minutes"] == "0.25"
    assert {"final.fd", "final.diversity", "final.conditioning_effect_category",
            "final.class_consistency_colour_vs_real"} <= set(run.data.metrics)
    judge = client.get_model_version_by_alias("stylecast-metric-classifier", "items")
    assert newest.tags["stylecast.encoder_version"] == str(judge.version)
    ticks = client.get_metric_history(run.info.run_id, "images_per_second")
    assert ticks and ticks[-1].step >= 1


@pytest.mark.integration
def test_ingest_dag_ingests_new_manifests_once(tmp_path, fmnist_dir):
    home, drop = tmp_path / "home", tmp_path / "drop"
    cli_json(["simulate", "--out", str(drop / "batch-1"), "--weeks", "3", "--items-per-week",
              "20"], home, FASHION_MNIST_DIR=str(fmnist_dir))
    (drop / "batch-1" / "truth.parquet").unlink()  # not a manifest
    env = environment(tmp_path / "airflow-home", home)
    prepare(env)
    done = dags_test(env, "stylecast_ingest", {"drop": str(drop / "batch-1")})
    assert succeeded(done), done.stdout[-3000:] + done.stderr[-3000:]
    import pyarrow.dataset as ds

    rows = ds.dataset(home / "items", partitioning="hive").count_rows()
    assert rows > 0
    again = dags_test(env, "stylecast_ingest", {"drop": str(drop / "batch-1")})
    assert succeeded(again)
    assert ds.dataset(home / "items", partitioning="hive").count_rows() == rows
    listed = airflow(env, "dags", "list-import-errors")
    assert "stylecast" not in listed.stdout


@pytest.mark.integration
def test_forget_dag_erases_the_items_it_is_given_and_fails_on_ids_it_cannot_find(tmp_path,
                                                                                 fmnist_dir):
    import duckdb

    home, drop = tmp_path / "home", tmp_path / "drop"
    cli_json(["simulate", "--out", str(drop), "--weeks", "3", "--items-per-week", "20"], home,
             FASHION_MNIST_DIR=str(fmnist_dir))
    cli_json(["ingest", str(drop / "manifest.csv")], home)
    ids = [i for (i,) in duckdb.sql(f"select item_id from '{home}/items/*/*.parquet' "
                                    "order by item_id limit 2").fetchall()]
    env = environment(tmp_path / "airflow-home", home)
    prepare(env)
    done = dags_test(env, "stylecast_forget", {"item_ids": ids})
    assert succeeded(done), done.stdout[-3000:] + done.stderr[-3000:]
    left = duckdb.sql(f"select count(*) from '{home}/items/*/*.parquet' where item_id in "
                      f"({', '.join(repr(i) for i in ids)})").fetchall()[0][0]
    assert left == 0
    [entry] = [json.loads(line) for line in
               (home / "rights" / "audit.jsonl").read_text().splitlines()]
    assert entry["who"].startswith("airflow:stylecast_forget/") and entry["items"] == 2
    missing = dags_test(env, "stylecast_forget", {"item_ids": ["no-such-item"]})
    assert not succeeded(missing)
    assert "not held by this home" in missing.stdout + missing.stderr
