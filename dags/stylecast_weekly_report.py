"""StyleCast weekly trend report: embed -> styles -> series -> forecast -> concepts -> report.

Scheduled Mondays 06:00 UTC for the ISO week that just ended; trigger by hand with
``{"week": "2025-W14"}`` to (re)build any week. Every task is keyed on that week and
replaces its own outputs, so retries and backfills never duplicate. Runs one at a time:
a week's style IDs are matched against the previous week's. A backfill has its own limit
(10 at once by default), so give it one: ``airflow backfill create --dag-id
stylecast_weekly_report --from-date ... --to-date ... --max-active-runs 1``.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, chain, dag, task

STEPS = {  # step -> execution timeout
    "embed": timedelta(minutes=60), "styles": timedelta(minutes=30),
    "series": timedelta(minutes=15), "forecast": timedelta(minutes=60),
    "concepts": timedelta(minutes=20), "report": timedelta(minutes=15),
}
DEFAULT_ARGS = {"owner": "stylecast", "retries": 2, "retry_delay": timedelta(seconds=30),
                "retry_exponential_backoff": True, "max_retry_delay": timedelta(minutes=10)}


@dag(
    dag_id="stylecast_weekly_report",
    schedule="0 6 * * 1",
    start_date=pendulum.datetime(2025, 1, 6, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["stylecast", "weekly", "report"],
    params={"week": Param(None, type=["null", "string"], pattern=r"^\d{4}-W\d{2}$",
                          description="ISO week to report on (default: the week before "
                                      "the run's logical date)")},
    doc_md=__doc__,
)
def stylecast_weekly_report():
    @task(execution_timeout=timedelta(minutes=1))
    def resolve_week(params=None, logical_date=None, dag_run=None) -> str:
        from pipeline.jobs.tasks import report_week

        return report_week(str(logical_date or dag_run.run_after), params["week"])

    @task(multiple_outputs=False)  # one XCom: the step's summary
    def step(name: str, week: str) -> dict:
        from pipeline.jobs.tasks import weekly_step

        return weekly_step(name, week)

    week = resolve_week()
    chain(week, *[step.override(task_id=name, execution_timeout=timeout)(name, week)
                  for name, timeout in STEPS.items()])


stylecast_weekly_report()
