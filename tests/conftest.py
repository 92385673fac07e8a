"""Shared fixtures: the real data, a home, a manifest builder, an MLflow server, a weekly store.

Helpers that tests import live in ``helpers.py``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    QUIET_MLFLOW,
    ManifestBuilder,
    cli_json,
    copy_home,
    free_port,
    run_weekly,
    shared,
)

from pipeline.core.settings import Settings

# Fixtures that start servers or train models: every test that uses one (directly or
# through another fixture) is an integration test, left out by `make test-fast`.
INTEGRATION_FIXTURES = {"mlflow_server", "weekly_store", "reported"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def fmnist_dir(monkeypatch) -> Path:
    folder = shared("fashion-mnist")
    monkeypatch.setenv("FASHION_MNIST_DIR", str(folder))
    return folder


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def settings(home) -> Settings:
    return Settings(home=str(home), workers=2)


@pytest.fixture
def builder(tmp_path) -> ManifestBuilder:
    return ManifestBuilder(tmp_path / "drop")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server on 127.0.0.1 (SQLite store, served artifacts)."""
    import time
    import urllib.request

    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = (root / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, cwd=root)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"mlflow server did not start: {(root / 'server.log').read_text()}")
            time.sleep(0.5)
    yield uri
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def weekly_store(tmp_path_factory) -> dict:
    """A home ready for the weekly job: ~2 years of simulated weeks over real Fashion-MNIST
    images, ingested, with a registered items encoder and a baby GAN champion trained on
    the items (category + colour; too short a run to draw anything recognisable, so its
    concepts are flagged).

    Read-only for tests: copy it (``copy_home``) before changing anything.
    """
    root = tmp_path_factory.mktemp("weekly")
    home, drop = root / "home", root / "drop"
    env = {"FASHION_MNIST_DIR": str(shared("fashion-mnist"))}
    cli_json(["simulate", "--out", str(drop), "--weeks", "110", "--items-per-week", "60",
              "--seed", "7"], home, **env)
    cli_json(["ingest", str(drop / "manifest.csv")], home, **env)
    cli_json(["encoder", "train", "--dataset", "items", "--preset", "quick"], home, **env)
    cli_json(["gan", "train", "--dataset", "items", "--preset", "baby", "--run-name", "weekly"],
             home, **env)
    weeks = sorted(p.name.split("=", 1)[1] for p in (home / "items").glob("week=*"))
    return {"home": home, "drop": drop, "env": env, "weeks": weeks}


@pytest.fixture(scope="session")
def reported(weekly_store, tmp_path_factory):
    """The weekly steps then `stylecast report` for the store's last week, after a forecast
    13 weeks earlier whose calls the last week grades (the report's and the studio's tests
    read it; copy it before changing anything)."""
    home = copy_home(weekly_store, tmp_path_factory.mktemp("report") / "home")
    week = weekly_store["weeks"][-1]
    import os

    os.environ.update(QUIET_MLFLOW)
    earlier = weekly_store["weeks"][-14]
    run_weekly(home, earlier, concepts=False)
    run_weekly(home, week)
    summary = cli_json(["report", "--week", week], home)
    return {"home": home, "week": week, "summary": summary, "earlier": earlier,
            "json": json.loads((home / "reports" / week / "report.json").read_text())}
