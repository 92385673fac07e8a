"""One path into MLflow for every StyleCast job: experiment, tags, run reuse.

Every run is tagged with the git commit, a hash of its input data and, when Airflow runs
it, the dag_id / run_id / logical date (Airflow exports them as ``AIRFLOW_CTX_*``). A run
key (by default the Airflow run and task) lets a retried task reopen its run instead of
creating a twin.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

from pipeline.core.errors import ServiceUnavailable, UnusableInputError
from pipeline.core.settings import Settings, is_local, local_path

AIRFLOW_CONTEXT_TAGS = {
    "AIRFLOW_CTX_DAG_ID": "airflow.dag_id",
    "AIRFLOW_CTX_DAG_RUN_ID": "airflow.run_id",
    "AIRFLOW_CTX_LOGICAL_DATE": "airflow.logical_date",
    "AIRFLOW_CTX_TASK_ID": "airflow.task_id",
    "AIRFLOW_CTX_TRY_NUMBER": "airflow.try_number",  # updated when a retry reopens the run
}
RUN_KEY_TAG = "stylecast.run_key"
# MLflow's HTTP client retries failed requests itself, with exponential backoff (urllib3's
# Retry); its defaults (7 retries, factor 2, 120 s timeouts) wait many minutes before a task
# hears of an outage. StyleCast's: 4 retries, about 15 s of backoff. The environment wins.
HTTP_RETRY_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "4",
                       "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                       "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
# MLflow error codes that mean "the service, not the request": worth trying again later.
TRANSIENT_CODES = {"TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "DEADLINE_EXCEEDED"}
# A database error is transient when the database is busy or unreachable; "unable to open
# database file" (a wrong path) or a missing table is the setup, and stays unusable input.
TRANSIENT_DB_WORDS = ("locked", "timeout", "timed out", "could not connect",
                      "connection refused", "server closed the connection", "lost connection")


@functools.cache
def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def airflow_tags() -> dict[str, str]:
    return {tag: os.environ[env] for env, tag in AIRFLOW_CONTEXT_TAGS.items() if env in os.environ}


def default_run_key() -> str | None:
    tags = airflow_tags()
    if "airflow.dag_id" in tags and "airflow.run_id" in tags:
        return "/".join(tags.get(t, "") for t in ("airflow.dag_id", "airflow.run_id",
                                                   "airflow.task_id"))
    return None


def bound_http_retries() -> None:
    for name, value in HTTP_RETRY_DEFAULTS.items():
        os.environ.setdefault(name, value)


def is_transient(err: BaseException) -> bool:
    """Whether an error from MLflow (or what it wraps) is an outage, not a bad request: a
    connection refused or timed out, a 5xx or 429 once MLflow's own retries are spent, a
    database that is locked or gone."""
    import requests

    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ServiceUnavailable | requests.ConnectionError | requests.Timeout
                      | ConnectionError | TimeoutError):
            return True
        if type(seen).__name__ == "OperationalError" and any(  # SQLAlchemy: busy or gone
                word in str(seen).lower() for word in TRANSIENT_DB_WORDS):
            return True
        if type(seen).__name__ == "MlflowException":
            code = getattr(seen, "error_code", "")
            text = str(seen)
            if code in TRANSIENT_CODES or "Max retries exceeded" in text \
                    or "failed with timeout" in text or "too many 5" in text.lower():
                return True
        seen = seen.__cause__ or seen.__context__
    return False


def outage(err: BaseException, tracking_uri: str) -> ServiceUnavailable:
    first = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
    return ServiceUnavailable(f"MLflow at {tracking_uri} failed after retries, so this is "
                              f"worth running again later: {first}")


def check_reachable(tracking_uri: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds, not after MLflow's minutes of HTTP retries, when a server is down."""
    bound_http_retries()
    if not tracking_uri.startswith(("http://", "https://")):
        return
    import requests

    try:
        requests.get(tracking_uri.rstrip("/") + "/health", timeout=timeout_s).raise_for_status()
    except requests.RequestException as err:
        raise ServiceUnavailable(f"MLflow tracking server {tracking_uri} is unreachable "
                                 f"({type(err).__name__}); start it or set "
                                 "MLFLOW_TRACKING_URI") from None


@contextlib.contextmanager
def mlflow_run(settings: Settings, experiment: str, run_name: str, input_hash: str,
               params: Mapping[str, object], run_key: str | None = None,
               run_id: str | None = None) -> Iterator[object]:
    """Start a run, or resume one (``run_id``, or the run with this run key).

    Parameters are logged once, when the run is created.
    """
    import mlflow

    # MLflow's INFO lines (table creation, experiment creation) would bury the one-line
    # summaries and errors our commands print; warnings still show.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    check_reachable(settings.mlflow_tracking_uri)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    try:
        experiment_id = ensure_experiment(settings, experiment)
    except Exception as err:  # an outage is retried later; anything else is the setup
        if is_transient(err):
            raise outage(err, settings.mlflow_tracking_uri) from err
        raise UnusableInputError(f"MLflow tracking store {settings.mlflow_tracking_uri} "
                                 f"is unusable: {type(err).__name__}: {err}") from None
    run_key = run_key or default_run_key()
    tags = {"stylecast.git_commit": git_commit(), "stylecast.input_hash": input_hash,
            **airflow_tags(), **({RUN_KEY_TAG: run_key} if run_key else {})}
    try:
        existing = run_id or (_run_with_key(experiment_id, run_key) if run_key else None)
        with mlflow.start_run(run_id=existing, experiment_id=None if existing else experiment_id,
                              run_name=None if existing else run_name, tags=tags) as run:
            if existing is None:
                mlflow.log_params({k: str(v) for k, v in params.items()})
            yield run
    except Exception as err:  # the server went away mid-run: the job can be run again
        if is_transient(err) and not isinstance(err, ServiceUnavailable):
            raise outage(err, settings.mlflow_tracking_uri) from err
        raise


def ensure_experiment(settings: Settings, name: str) -> str:
    """The experiment's id, creating it if needed.

    With a database store, MLflow would put artifacts in ``./mlruns`` of whatever folder the
    process runs in; StyleCast keeps them under the home (``mlartifacts/``) instead. A
    tracking server chooses its own artifact store.
    """
    import mlflow

    found = mlflow.get_experiment_by_name(name)
    if found is None:
        from mlflow.exceptions import MlflowException

        location = None   # a tracking server chooses its own artifact store
        if not settings.mlflow_tracking_uri.startswith(("http://", "https://")):
            location = settings.path("mlartifacts")
            if is_local(location):
                location = Path(local_path(location)).resolve().as_uri()
        # Created meanwhile by a concurrent task: fine, it is the same experiment.
        with contextlib.suppress(MlflowException):
            mlflow.create_experiment(name, artifact_location=location)
        found = mlflow.get_experiment_by_name(name)
    # Not ``set_experiment``: a library call must not change the process's active
    # experiment under later, unrelated ``mlflow.start_run()`` calls.
    return found.experiment_id


def _run_with_key(experiment_id: str, run_key: str) -> str | None:
    from mlflow.tracking import MlflowClient

    runs = MlflowClient().search_runs(
        [experiment_id], filter_string=f"tags.`{RUN_KEY_TAG}` = '{run_key}'", max_results=1)
    return runs[0].info.run_id if runs else None
