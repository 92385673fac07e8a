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


def last_runs(settings: Settings, experiment: str, last: int) -> list:
    import mlflow
    from mlflow.tracking import MlflowClient

    check_reachable(settings.mlflow_tracking_uri)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = ", ".join(e.name for e in client.search_experiments()) or "none"
        raise UnusableInputError(f"no MLflow experiment {experiment!r} (there are: {names})")
    runs = client.search_runs([found.experiment_id], order_by=["attribute.start_time DESC"],
                              max_results=last)
    if not runs:
        raise UnusableInputError(f"experiment {experiment!r} has no runs yet")
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
