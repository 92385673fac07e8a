"""A real, isolated Airflow for tests: its own AIRFLOW_HOME and SQLite metadata database.

The one reliable way to run a DAG end to end here (Airflow 3.3): ``airflow db migrate``,
``airflow dags reserialize`` (``dags test`` of a DAG that was never serialised fails with
"dag is not serialized"), then ``airflow dags test <dag> -c '<conf>'``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AIRFLOW = [sys.executable, "-m", "airflow"]


def environment(airflow_home: Path, stylecast_home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
            "STYLECAST_HOME": str(stylecast_home), "STYLECAST_WORKERS": "2",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", **extra}


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
