"""Ingest the manifests that landed in a drop location and were not ingested yet.

One mapped task per new manifest (dynamic task mapping), each idempotent: re-ingesting a
manifest replaces its rows. Emits the ``stylecast_items`` asset, so data-aware DAGs can
follow new items.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, task

ITEMS = Asset(name="stylecast_items", uri="stylecast://items")
DEFAULT_ARGS = {"owner": "stylecast", "retries": 2, "retry_delay": timedelta(seconds=30),
                "retry_exponential_backoff": True}


@dag(
    dag_id="stylecast_ingest",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["stylecast", "ingest"],
    params={"drop": Param(os.environ.get("STYLECAST_DROP", "drops"), type="string",
                          minLength=1, description="Folder or URI holding manifests")},
    doc_md=__doc__,
)
def stylecast_ingest():
    @task(execution_timeout=timedelta(minutes=5))
    def find_new(params=None) -> list[str]:
        from pipeline.jobs.tasks import new_manifests

        return new_manifests(params["drop"])

    @task(outlets=[ITEMS], execution_timeout=timedelta(hours=2), multiple_outputs=False)
    def ingest(manifest: str) -> dict:
        from pipeline.jobs.tasks import ingest_manifest

        return ingest_manifest(manifest)

    ingest.expand(manifest=find_new())


stylecast_ingest()
