"""``stylecast runs compare``: the last runs of an experiment side by side.

One column per run; rows are the run's identity (name, start, status, Airflow run), then
every parameter and every metric any of the runs has, so a changed setting and the score
it moved sit on the same screen. Metric names are the same across runs by construction
(``backtest.<model>.<metric>``, ``final.<metric>``, ``data.<count>``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.core.errors import UnusableInputError
from pipeline.core.settings import Settings
from pipeline.core.tracking import check_reachable

RUN_STATUSES = ("any", "finished", "failed", "running", "killed")


def run_filter(where: str | None, status: str = "any", since: str | None = None) -> str:
    """One MLflow search filter from ``runs compare``'s options."""
    clauses = [where.strip()] if where and where.strip() else []
    if status != "any":
        clauses.append(f"attributes.status = '{status.upper()}'")
    if since:
        try:
            start = datetime.fromisoformat(since).replace(tzinfo=UTC)
        except ValueError:
            raise UnusableInputError(f"--since takes a date such as 2026-01-31, got "
                                     f"{since!r}") from None
        clauses.append(f"attributes.start_time >= {int(start.timestamp() * 1000)}")
    return " and ".join(clauses)


def last_runs(settings: Settings, experiment: str, last: int, where: str = "") -> list:
    """The latest ``last`` runs of an experiment matching ``where`` (MLflow's search syntax,
    e.g. ``params.dataset = 'items' and metrics.mase < 1``)."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    check_reachable(settings.mlflow_tracking_uri)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = ", ".join(e.name for e in client.search_experiments()) or "none"
        raise UnusableInputError(f"no MLflow experiment {experiment!r} (there are: {names})")
    try:
        runs = client.search_runs([found.experiment_id], where,
                                  order_by=["attribute.start_time DESC"], max_results=last)
    except MlflowException as err:
        if err.error_code != "INVALID_PARAMETER_VALUE":
            raise
        raise UnusableInputError(f"bad run filter {where!r}: {str(err).splitlines()[0]} (e.g. "
                                 "--where \"params.dataset = 'items'\")") from None
    if not runs:
        raise UnusableInputError(f"experiment {experiment!r} has no runs yet" if not where
                                 else f"no run of {experiment!r} matches {where}")
    return runs


def comparison(runs: list, metric_filter: str | None = None) -> tuple[list[str], list[list[str]]]:
    """(column headers, rows) with one column per run."""
    def started(run) -> str:
        return datetime.fromtimestamp(run.info.start_time / 1000, UTC).strftime("%Y-%m-%d %H:%M")

    headers = ["", *[run.info.run_name or run.info.run_id[:8] for run in runs]]
    rows = [["run id", *[run.info.run_id[:12] for run in runs]],
            ["started (UTC)", *[started(run) for run in runs]],
            ["status", *[run.info.status for run in runs]],
            ["airflow run", *[run.data.tags.get("airflow.run_id", "") for run in runs]]]
    params = sorted({k for run in runs for k in run.data.params})
    rows += [[f"param {k}", *[run.data.params.get(k, "") for run in runs]] for k in params]
    metrics = sorted({k for run in runs for k in run.data.metrics
                      if not metric_filter or metric_filter in k})
    rows += [[k, *[_number(run.data.metrics.get(k)) for run in runs]] for k in metrics]
    return headers, rows


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
