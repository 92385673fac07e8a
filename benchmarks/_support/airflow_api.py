"""Airflow's REST API (v2) as a test drives it: a token from the simple auth manager, then
triggers, run states and task instances."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import requests

from _support.processes import ServiceFailed


class AirflowApi:
    def __init__(self, base: str, airflow_home: Path, user: str,
                 on_timeout: Callable[[], str] = lambda: "") -> None:
        self.base = base
        self.on_timeout = on_timeout  # what to show when something never happens
        passwords = json.loads((airflow_home / "simple_auth_manager_passwords.json.generated")
                               .read_text())
        response = requests.post(f"{base}/auth/token", timeout=30,
                                 json={"username": user, "password": passwords[user]})
        response.raise_for_status()
        self.token = response.json()["access_token"]

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.base}/api/v2{path}", timeout=60,
                                headers={"Authorization": f"Bearer {self.token}"}, **kwargs)

    def wait_parsed(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while self.request("GET", f"/dags/{dag_id}").status_code != 200:
            if time.monotonic() > deadline:
                raise ServiceFailed(f"{dag_id} was never parsed:\n{self.on_timeout()}")
            time.sleep(2)

    def trigger(self, dag_id: str, conf: dict) -> requests.Response:
        self.wait_parsed(dag_id)
        return self.request("POST", f"/dags/{dag_id}/dagRuns",
                            json={"logical_date": None, "conf": conf})

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 900) -> str:
        deadline = time.monotonic() + timeout
        while True:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed") or time.monotonic() > deadline:
                return state
            time.sleep(3)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        found = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()
        return found.get("task_instances", [])

    def describe(self, dag_id: str, run_id: str) -> str:
        """Task states and the tail of the service logs, for a failure message."""
        lines = [f"{t['task_id']}: {t['state']} try {t['try_number']} on {t['hostname']}"
                 for t in self.task_instances(dag_id, run_id)]
        return "\n".join(lines) + "\n" + self.on_timeout()
