"""StyleCast weekly trend report: embed -> styles -> series -> forecast -> concepts -> report.

Scheduled Mondays 06:00 UTC for the ISO week that just ended; trigger by hand with
``{"week": "2025-W14"}`` to (re)build any week. Also follows the ``stylecast_items`` asset,
for late items only: when an ingest writes items into a week that already has a report, a
run rebuilds that report; items for weeks not reported yet skip the run (the Monday run
covers them). Every task is keyed on its week and replaces its own outputs, so retries and
backfills never duplicate. Runs one at a time: a week's style IDs are matched against the
previous week's. A backfill has its own limit (10 at once by default), so give it one:
``airflow backfill create --dag-id stylecast_weekly_report --from-date ... --to-date ...
--max-active-runs 1``.

Notifications (``pipeline.jobs.notify``): a failed task, a run not done
``STYLECAST_WEEKLY_DEADLINE_HOURS`` (default 6) after it was queued (a deadline alert, sent
by the triggerer; 0 turns it off), and the published report with its summary and where to
open it. Airflow 3.3's ``airflow dags test`` cannot finish a DAG that has a deadline alert
(``DagRun.update_state`` reads the unserialised alerts as database IDs), so local
``dags test`` runs (``make demo``, the tests) set the deadline to 0; the scheduler keeps it.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import (
    AssetOrTimeSchedule,
    AsyncCallback,
    CronTriggerTimetable,
    DeadlineAlert,
    DeadlineReference,
    Param,
    chain,
    dag,
    task,
)

from pipeline.jobs.assets import ITEMS, REPORT
from pipeline.jobs.notify import StyleCastNotifier

STEPS = {  # step -> execution timeout
    "embed": timedelta(minutes=60), "styles": timedelta(minutes=30),
    "series": timedelta(minutes=15), "forecast": timedelta(minutes=60),
    "concepts": timedelta(minutes=20), "report": timedelta(minutes=15),
}
MONDAY_6AM = CronTriggerTimetable("0 6 * * 1", timezone="UTC")
DEADLINE_HOURS = float(os.environ.get("STYLECAST_WEEKLY_DEADLINE_HOURS") or 6)
LATE = AsyncCallback(StyleCastNotifier, kwargs={
    "event": "deadline",
    "expected": "The weekly report is late: look at the run's failed or slow tasks."})
DEFAULT_ARGS = {"owner": "stylecast", "retries": 2, "retry_delay": timedelta(seconds=30),
                "retry_exponential_backoff": True, "max_retry_delay": timedelta(minutes=10),
                "on_failure_callback": StyleCastNotifier("failure")}


@dag(
    dag_id="stylecast_weekly_report",
    schedule=AssetOrTimeSchedule(timetable=MONDAY_6AM, assets=ITEMS),
    start_date=pendulum.datetime(2025, 1, 6, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    deadline=DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT,
                           interval=timedelta(hours=DEADLINE_HOURS), callback=LATE)
    if DEADLINE_HOURS > 0 else None,
    tags=["stylecast", "weekly", "report"],
    params={"week": Param(None, type=["null", "string"], pattern=r"^\d{4}-W\d{2}$",
                          description="ISO week to report on (default: the week before "
                                      "the run's logical date)")},
    doc_md=__doc__,
)
def stylecast_weekly_report():
    @task(execution_timeout=timedelta(minutes=1))
    def resolve_week(params=None, logical_date=None, dag_run=None,
                     triggering_asset_events=None) -> str:
        from pipeline.jobs.assets import weeks_in
        from pipeline.jobs.tasks import report_week

        return report_week(str(logical_date or dag_run.run_after), params["week"],
                           weeks_in(triggering_asset_events))

    @task(multiple_outputs=False)  # one XCom: the step's summary
    def step(name: str, week: str, outlet_events=None) -> dict:
        from pipeline.jobs.tasks import weekly_step

        summary = weekly_step(name, week)
        if name == "report":
            outlet_events[REPORT].extra = {"week": week, "page": summary.get("html")}
        return summary

    week = resolve_week()
    steps = [step.override(task_id=name, execution_timeout=timeout)(name, week)
             for name, timeout in STEPS.items() if name != "report"]
    report = step.override(task_id="report", execution_timeout=STEPS["report"],
                           outlets=[REPORT],
                           on_success_callback=StyleCastNotifier("report"))("report", week)
    chain(week, *steps, report)


stylecast_weekly_report()
