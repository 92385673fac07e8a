"""What Airflow tasks call: one function per task, JSON in, small JSON out (for XCom).

The DAG files in ``dags/`` stay thin: each task body is one call into this module, which
imports the heavy libraries (torch, pandas) only when the task runs, never when the DAG
file is parsed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta

from pipeline.core.errors import UnusableInputError
from pipeline.core.settings import Settings
from pipeline.core.weeks import iso_week, parse_week


def airflow_task(function: Callable) -> Callable:
    """What every task does around its work.

    The task may start worker pools, even on a Celery worker (see ``allow_child_processes``).
    It checks the home first: a missing bucket or bad credentials is a one-line error, not a
    stack trace deep in a task. Unusable input fails the task for good, because a retry
    would read the same input. A service that is down (``ServiceUnavailable``), or any other
    error, is left to Airflow's retries.
    """
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            from pipeline.core.storage import check_store
            from pipeline.core.workers import allow_child_processes

            allow_child_processes()
            check_store(Settings.from_env().home)
            return function(*args, **kwargs)
        except UnusableInputError as err:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(str(err)) from err
    return wrapper


@airflow_task
def report_week(logical_date: str | None, requested: str | None = None,
                late_weeks: list[str] | None = None) -> str:
    """The ISO week a run reports on: the requested one; for a run triggered by new items
    (``late_weeks``: the weeks they landed in), the newest of those weeks that already has a
    report, else nothing to do (the Monday run will cover them); else the last complete
    week before the run's logical date (Monday 06:00 of week W+1 reports on week W)."""
    if late_weeks is not None and not requested:
        return _reported_week(late_weeks)
    if requested:
        try:
            parse_week(requested)
        except ValueError as err:  # "2025-14": bad input, no retry can fix it
            raise UnusableInputError(str(err)) from None
        return requested
    moment = datetime.fromisoformat(logical_date) if logical_date else datetime.now()
    monday = moment.date() - timedelta(days=moment.weekday())
    return iso_week(monday - timedelta(days=1))


def _reported_week(weeks: list[str]) -> str:
    from airflow.sdk.exceptions import AirflowSkipException

    from pipeline.core.catalog import REPORTS

    settings = Settings.from_env()
    reported = [w for w in weeks if REPORTS.exists(settings, w)]
    if not reported:
        raise AirflowSkipException(f"new items only for weeks not reported yet "
                                   f"({', '.join(weeks[-3:]) or 'none'}): the Monday run "
                                   "reports them")
    return reported[-1]


@airflow_task
def weekly_step(step: str, week: str) -> dict:
    from pipeline.jobs import weekly

    functions = {"embed": weekly.embed_step, "styles": weekly.styles_step,
                 "series": weekly.series_step, "forecast": weekly.forecast_step,
                 "concepts": weekly.concepts_step, "report": weekly.report_step}
    result = functions[step](Settings.from_env(), week)
    if result.get("skipped"):  # a reason, or the series a forecast left out
        import logging

        logging.getLogger("stylecast").warning("%s skipped for %s: %s", step, week,
                                               result["skipped"])
    return _small(result)


@airflow_task
def train_gan(dataset: str, preset: str, max_kimg: float | None, conditions: str | None,
              seed: int, max_minutes: float | None = None) -> dict:
    from gan.run import train_gan as train

    attributes = tuple(a.strip() for a in conditions.split(",") if a.strip()) if conditions \
        else None
    overrides = {"max_kimg": max_kimg, "max_minutes": max_minutes, "seed": seed,
                 **({"attributes": attributes} if attributes else {})}
    run_name = _airflow_run_name()
    summary = train(Settings.from_env(), dataset, preset, None,
                    resume=run_name if _run_exists(run_name) else None,
                    run_name=run_name, **overrides)
    return _small(summary)


def new_champion(dataset: str, summary: dict) -> dict:
    """What the champion asset's event says about a promoted generator."""
    from pipeline.core.names import champion_alias

    return {"dataset": dataset, "version": summary.get("model_version"),
            "alias": champion_alias(dataset)}


def _airflow_run_name() -> str | None:
    """A retried training task resumes its own run folder instead of starting over."""
    import os
    import re

    run_id = os.environ.get("AIRFLOW_CTX_DAG_RUN_ID")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"airflow-{run_id}") if run_id else None


def _run_exists(name: str | None) -> bool:
    from gan.run import runs_root

    return bool(name) and (runs_root(Settings.from_env()) / name / "config.json").exists()


@airflow_task
def new_manifests(drop: str) -> list[str]:
    """Manifests in the drop folder to ingest now (``pipeline.jobs.drop``)."""
    from pipeline.jobs import drop as drops

    return drops.new_manifests(Settings.from_env(), drop)


@airflow_task
def ingest_manifest(manifest: str) -> dict:
    """Ingest one manifest; one that is unusable as a whole is remembered as refused, so the
    poll reports it once (this task's failure) rather than every 15 minutes. The summary
    keeps every week written (``weeks``), which the items asset's event carries."""
    from pipeline import ingest
    from pipeline.jobs import drop as drops

    settings = Settings.from_env()
    try:
        summary = ingest.run(manifest, settings=settings)
        return {**_small(summary.__dict__), "weeks": list(summary.weeks)}
    except UnusableInputError as err:
        drops.record_refusal(settings, manifest, str(err))
        raise


def worker_hostname() -> str:
    """``[core] hostname_callable`` for workers that share a machine: the name in
    ``STYLECAST_WORKER_NAME`` (e.g. gpu-worker), so task instances show which one ran them."""
    import os
    import socket

    return os.environ.get("STYLECAST_WORKER_NAME") or socket.getfqdn()


def _small(result: dict) -> dict:
    """Only scalars and short lists go to XCom."""
    def small(value: object) -> bool:
        if isinstance(value, list | dict):
            return len(value) <= 20
        return value is None or isinstance(value, str | int | float | bool)

    return {key: value for key, value in result.items() if small(value)}


@airflow_task
def forget_items(item_ids: list[str]) -> dict:
    """The forget DAG's task: erase the items; ids the home does not hold fail the task
    (after the others are erased), since retrying cannot find them."""
    from dataclasses import asdict

    from pipeline.jobs.forget import forget

    summary = forget(Settings.from_env(), [str(i) for i in item_ids])
    if summary.missing:
        raise UnusableInputError(f"{len(summary.missing)} id(s) not held by this home (the "
                                 f"others were erased): {', '.join(summary.missing[:20])}")
    return asdict(summary)
