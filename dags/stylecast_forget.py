"""Erase items from the home: every dataset that holds them or something made from them.

Manual trigger only, with the item ids as a parameter. The erasure tombstones the items (no
later ingest brings them back), rebuilds the reports that showed them, appends to the audit
log and tags in MLflow the models that learned from them (``stylecast rights models`` lists
those to retrain). A task killed half-way is completed by its retry.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from pipeline.jobs.notify import StyleCastNotifier

DEFAULT_ARGS = {"owner": "stylecast", "retries": 2, "retry_delay": timedelta(minutes=1),
                "on_failure_callback": StyleCastNotifier("failure")}


@dag(
    dag_id="stylecast_forget",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["stylecast", "rights"],
    params={"item_ids": Param([], type="array", items={"type": "string"}, minItems=1,
                              description="The item ids to erase")},
    doc_md=__doc__,
)
def stylecast_forget():
    @task(execution_timeout=timedelta(hours=2), multiple_outputs=False)
    def forget(params=None) -> dict:
        from pipeline.jobs.tasks import forget_items

        return forget_items(params["item_ids"])

    forget()


stylecast_forget()
