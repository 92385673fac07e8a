"""Ingest the manifests that landed in a drop location and were not ingested yet.

Every 15 minutes (and by hand with ``{"drop": ...}``): one mapped task per new manifest
(dynamic task mapping), each idempotent (re-ingesting a manifest replaces its rows), at most
``INGEST_SLOTS`` at once. Concurrent ingests are safe whatever the parallelism: their
commit steps take turns under a lock held in the store. Emits the ``stylecast_items``
asset with the weeks each ingest wrote (``pipeline.jobs.assets``): the weekly report
follows it to rebuild a week already reported when late items land in it. The Monday
report (06:00 UTC) covers what had landed by its start: a manifest dropped before 05:45.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from pipeline.jobs.assets import ITEMS
from pipeline.jobs.notify import StyleCastNotifier

DEFAULT_ARGS = {"owner": "stylecast", "retries": 2, "retry_delay": timedelta(seconds=30),
                "retry_exponential_backoff": True,
                "on_failure_callback": StyleCastNotifier("failure")}
EVERY_15_MINUTES = "*/15 * * * *"
INGEST_SLOTS = 4  # decoding is CPU-bound: more ingests at once than that only queue
DROP = os.environ.get("STYLECAST_DROP") or (
    os.environ.get("STYLECAST_HOME", "./stylecast-home").rstrip("/") + "/drops")


@dag(
    dag_id="stylecast_ingest",
    schedule=EVERY_15_MINUTES,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # a run still ingesting makes the next one wait, not list it again
    default_args=DEFAULT_ARGS,
    tags=["stylecast", "ingest"],
    params={"drop": Param(DROP, type="string", minLength=1,
                          description="Folder or URI holding manifests")},
    doc_md=__doc__,
)
def stylecast_ingest():
    @task(execution_timeout=timedelta(minutes=5))
    def find_new(params=None) -> list[str]:
        from pipeline.jobs.tasks import new_manifests

        return new_manifests(params["drop"])

    @task(outlets=[ITEMS], execution_timeout=timedelta(hours=2), multiple_outputs=False,
          max_active_tis_per_dagrun=INGEST_SLOTS)
    def ingest(manifest: str, outlet_events=None) -> dict:
        from pipeline.jobs.tasks import ingest_manifest

        summary = ingest_manifest(manifest)
        outlet_events[ITEMS].extra = {"manifest": manifest, "weeks": summary.pop("weeks"),
                                      "ingested": summary.get("ingested")}
        return summary

    ingest.expand(manifest=find_new())


stylecast_ingest()
