"""A real, isolated Airflow for tests: its own AIRFLOW_HOME and SQLite metadata database.

The one reliable way to run a DAG end to end here (Airflow 3.3): ``airflow db migrate``,
``airflow dags reserialize`` (``dags test`` of a DAG that was never serialised fails with
"dag is not serialized"), then ``airflow dags test <dag> -c '<conf>'``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from _support.processes import inherited_env

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = [sys.executable, "-m", "airflow"]


def environment(airflow_home: Path, stylecast_home: Path, **extra: str) -> dict[str, str]:
    return {**inherited_env(), "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
            "STYLECAST_HOME": str(stylecast_home), "STYLECAST_WORKERS": "2",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            # `dags test` cannot finish a DAG with a deadline alert (dags/stylecast_weekly_report)
            "STYLECAST_WEEKLY_DEADLINE_HOURS": "0", **extra}


def airflow(env: dict[str, str], *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([*AIRFLOW, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def prepare(env: dict[str, str]) -> None:
    """Metadata database, the ``gpu`` pool, and every DAG serialised."""
    for args in (("db", "migrate"), ("pools", "set", "gpu", "1", "GPU training slots"),
                 ("dags", "reserialize")):
        done = airflow(env, *args)
        assert done.returncode == 0, f"airflow {' '.join(args)}:\n{done.stderr[-3000:]}"


def dags_test(env: dict[str, str], dag_id: str, conf: dict | None = None
              ) -> subprocess.CompletedProcess:
    return airflow(env, "dags", "test", dag_id, *(["-c", json.dumps(conf)] if conf else []))


def succeeded(done: subprocess.CompletedProcess) -> bool:
    return done.returncode == 0 and "state=success" in done.stdout + done.stderr


def server_environment(base: dict[str, str], airflow_home: Path, database_url: str,
                       api_port: int, executor: str, user: str) -> dict[str, str]:
    """A real Airflow deployment's settings (api-server, scheduler, dag-processor, workers).

    The wiring that matters: tasks report to the execution API at the api-server's own
    address, every component signs and checks tokens with one JWT secret, and the scheduler
    only runs what a test triggers (no scheduled run queues ahead of it).
    """
    import secrets

    return {**base, "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
            "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{user}:admin",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "false",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "false",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5"}
