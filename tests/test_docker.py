"""docker/: the compose file against the Compose Specification, the Dockerfiles with hadolint.

There is no Docker engine here; these are the checks that catch what breaks deployments
before one starts: unknown keys, missing health checks, ports open to the world, a GPU
worker that does not consume the gpu queue, Dockerfile mistakes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import compose_spec
import pytest
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
ONE_SHOT = {"create-bucket", "airflow-init"}


@pytest.fixture(scope="module")
def compose() -> dict:
    text = (DOCKER / "docker-compose.yaml").read_text()
    return compose_spec.PyCompose.from_yaml(text).to_dict()


def test_the_strict_parser_rejects_unknown_keys():
    with pytest.raises(ValueError, match="bogus"):
        compose_spec.PyCompose.from_yaml("services:\n  a:\n    image: x\n    bogus: 1\n")


def test_every_service_of_the_deployment_is_there(compose):
    assert set(compose["services"]) == {
        "postgres", "redis", "seaweedfs", "create-bucket", "mlflow", "airflow-init",
        "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
        "airflow-triggerer", "airflow-worker", "airflow-worker-gpu"}


def test_long_running_services_have_health_checks_and_start_in_order(compose):
    for name, service in compose["services"].items():
        if name not in ONE_SHOT:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-worker",
                 "airflow-worker-gpu"):
        needs = compose["services"][name]["depends_on"]
        assert needs["airflow-init"]["condition"] == "service_completed_successfully"
        assert needs["mlflow"]["condition"] == "service_healthy"
    assert compose["services"]["mlflow"]["depends_on"]["create-bucket"]["condition"] == \
        "service_completed_successfully"


def test_every_port_is_bound_to_localhost(compose):
    published = [(name, port) for name, service in compose["services"].items()
                 for port in service.get("ports", [])]
    assert published, "the UI, MLflow and S3 are reachable from the host"
    for name, port in published:
        text = port if isinstance(port, str) else f"{port.get('host_ip')}:{port}"
        assert text.startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"


def test_workers_consume_their_queues_and_the_gpu_worker_reserves_a_gpu(compose):
    cpu, gpu = compose["services"]["airflow-worker"], compose["services"]["airflow-worker-gpu"]
    assert cpu["command"][cpu["command"].index("--queues") + 1] == "default"
    assert gpu["command"][gpu["command"].index("--queues") + 1] == "gpu"
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    env = cpu["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["STYLECAST_HOME"].startswith("s3://")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver")


def test_no_secret_is_written_into_the_compose_file_or_an_image(compose):
    for service in compose["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in ("PASSWORD", "SECRET", "FERNET")):
                assert str(value).startswith("${"), f"{key} must come from docker/.env"
    for dockerfile in ("Dockerfile", "Dockerfile.gpu"):
        text = (DOCKER / dockerfile).read_text()
        assert "SECRET" not in text and "PASSWORD" not in text
    example = (DOCKER / ".env.example").read_text()
    assert "replace-with" in example


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.gpu"])
def test_hadolint_finds_no_errors(dockerfile):
    hadolint = shutil.which("hadolint") or str(Path(__file__).resolve().parents[1] / ".venv" /
                                               "bin" / "hadolint")
    done = subprocess.run([hadolint, "--failure-threshold", "style", str(DOCKER / dockerfile)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_service_others_reach_asks_who_they_are(compose):
    redis = compose["services"]["redis"]
    assert "--requirepass" in redis["command"]
    mlflow = compose["services"]["mlflow"]
    assert mlflow["command"][:2] == ["--app-name", "basic-auth"]
    assert mlflow["environment"]["MLFLOW_AUTH_ADMIN_PASSWORD"].startswith("${MLFLOW_PASSWORD:?")
    auth_ini = (DOCKER / "mlflow-auth.ini").read_text()
    assert "admin_password" not in auth_ini, "no password in a file under version control"
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        if "MLFLOW_TRACKING_URI" in env:
            assert env["MLFLOW_TRACKING_PASSWORD"].startswith("${MLFLOW_PASSWORD:?"), name
            assert "MLFLOW_TRACKING_USERNAME" in env, name
        broker = env.get("AIRFLOW__CELERY__BROKER_URL")
        if broker is not None:
            assert broker.startswith("redis://:${REDIS_PASSWORD:?"), f"{name}: an open broker"
        users = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS")
        if users is not None:
            assert ":?" in users and "admin:admin" not in users, f"{name}: a default user"


def _arg(text: str, name: str) -> str:
    return re.search(rf"^ARG {name}=(\S+)$", text, re.M).group(1)


def test_both_images_install_the_same_locked_stack():
    """Same base, Airflow, torch and lock in both images; the torch the Makefile installs."""
    cpu, gpu = ((DOCKER / name).read_text() for name in ("Dockerfile", "Dockerfile.gpu"))
    for name in ("AIRFLOW_VERSION", "PYTHON_VERSION", "TORCH_VERSION"):
        assert _arg(cpu, name) == _arg(gpu, name), name
    make_torch = re.search(r"^TORCH_SPEC \?= torch==(\S+)$",
                           (REPO / "Makefile").read_text(), re.M).group(1)
    assert _arg(cpu, "TORCH_VERSION") == make_torch
    assert "/whl/cpu" in _arg(cpu, "TORCH_INDEX") and "cpu" not in _arg(gpu, "TORCH_INDEX")
    lock = dict(line.split("==") for line in (DOCKER / "constraints.txt").read_text()
                .splitlines() if line and not line.startswith("#"))
    assert lock["apache-airflow"] == _arg(cpu, "AIRFLOW_VERSION")
    assert "torch" not in lock, "torch comes from its own index, per image"
    for text in (cpu, gpu):
        assert "--constraint docker/constraints.txt" in text
        assert '"/opt/stylecast[s3,postgres,celery]"' in text, "pyproject's caps apply"
    celery = re.search(r'"celery>=[\d.]+,<([\d.]+)"', (REPO / "pyproject.toml").read_text())
    assert Version(lock["celery"]) < Version(celery.group(1)), "the lock keeps the celery cap"


def test_every_service_image_is_pinned_to_a_release(compose):
    for name, service in compose["services"].items():
        image = service["image"]
        if image.startswith("stylecast-"):
            continue   # built from docker/ above
        tag = image.rpartition(":")[2]
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?", tag), f"{name}: {image} floats"
