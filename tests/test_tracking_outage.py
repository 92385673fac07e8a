"""An MLflow outage is a fault that may pass: retried with backoff, then reported as
``ServiceUnavailable`` (exit 4, which Airflow retries), never as unusable input."""

from __future__ import annotations

import sys
import time

import pytest
from _support.services import Service, wait_http
from helpers import free_port, inherited_env

from pipeline.core import tracking
from pipeline.core.errors import ServiceUnavailable, UnusableInputError
from pipeline.core.settings import Settings


def test_a_server_stopped_mid_run_is_retried_then_reported_as_transient(tmp_path, monkeypatch):
    port = free_port()
    server = Service("mlflow", [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
        "--artifacts-destination", str(tmp_path / "artifacts")], inherited_env(), tmp_path)
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    settings = Settings(home=str(tmp_path / "home"), mlflow_tracking_uri=uri)
    try:
        wait_http(f"{uri}/health", server, timeout=120)
        import mlflow

        with pytest.raises(ServiceUnavailable, match="worth running again later") as raised, \
                tracking.mlflow_run(settings, "outage", "mid-run", "hash", {"a": 1}):
            mlflow.log_metric("before", 1.0)
            server.stop()
            started = time.monotonic()
            mlflow.log_metric("after", 2.0)
        waited = time.monotonic() - started
    finally:
        server.stop()
    assert waited >= 1 + 2, "MLflow's client backed off and retried before giving up"
    assert raised.value.exit_code == 4
    assert tracking.is_transient(raised.value.__cause__)


def test_a_store_that_cannot_work_is_still_unusable_input(tmp_path):
    not_a_database = tmp_path / "mlflow.db"
    not_a_database.write_bytes(b"this is a text file, not SQLite\n" * 64)
    bad = Settings(home=str(tmp_path / "home"),
                   mlflow_tracking_uri=f"sqlite:///{not_a_database}")
    with pytest.raises(UnusableInputError, match="is unusable"), \
            tracking.mlflow_run(bad, "x", "y", "hash", {}):
        pass
