"""Settings from the environment, and the command line's help."""

from __future__ import annotations

import pytest
from helpers import run_cli

from pipeline.core.settings import Settings


def test_defaults_put_everything_under_the_home(monkeypatch, tmp_path):
    for name in ("STYLECAST_HOME", "MLFLOW_TRACKING_URI", "STYLECAST_DEVICE", "STYLECAST_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env()
    assert settings.home == str(tmp_path / "stylecast-home")
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path}/stylecast-home/mlflow.db"
    assert settings.device == "auto" and settings.resolve_device() == "cpu"
    assert settings.path("items") == f"{tmp_path}/stylecast-home/items"


def test_environment_and_uris(monkeypatch):
    monkeypatch.setenv("STYLECAST_HOME", "s3://bucket/stylecast/")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("STYLECAST_DEVICE", "cpu")
    settings = Settings.from_env()
    assert settings.path("items", "week=2025-W14") == "s3://bucket/stylecast/items/week=2025-W14"
    assert settings.mlflow_tracking_uri == "http://127.0.0.1:5000"
    assert Settings(home="memory://x").mlflow_tracking_uri.startswith("sqlite:///")


def test_bad_device_is_a_clear_error():
    with pytest.raises(ValueError, match="STYLECAST_DEVICE='tpu' is not one of auto, cpu, cuda"):
        Settings(device="tpu")


def test_help_lists_the_commands(tmp_path):
    result = run_cli(["--help"], tmp_path, check=True)
    for command in ("ingest", "simulate", "sources", "info"):
        assert command in result.stdout
    ingest_help = run_cli(["ingest", "--help"], tmp_path, check=True).stdout
    assert "--images-root" in ingest_help and "quarantine" in ingest_help
