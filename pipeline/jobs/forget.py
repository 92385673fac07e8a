"""``stylecast forget``: erase items from every dataset of the home, tombstone them, log it,
rebuild the reports that showed them and tag the models that learned from them.

The store phase (``core.erasure``) runs under the lock ingests commit under, so an ingest
running meanwhile can neither resurrect an erased item nor interleave with the rewrite.
The follow-ups run after it, and a crash anywhere is completed by the next ``forget``.
"""

from __future__ import annotations

import getpass
import os
import time
from dataclasses import dataclass, field

from pipeline.core import catalog, erasure
from pipeline.core.locks import store_lock
from pipeline.core.names import (
    ENCODER_MODEL,
    ERASED_TAG,
    GAN_MODEL,
    METRIC_MODEL,
    STORE_COMMIT_LOCK,
)
from pipeline.core.settings import Settings
from pipeline.core.tombstones import Tombstones

REPORT_ARTIFACT = "report"   # where the report step logs its folder (pipeline.report.run)

REGISTERED_MODELS = (GAN_MODEL, ENCODER_MODEL, METRIC_MODEL)


@dataclass
class ForgetSummary:
    erased: int = 0
    already_erased: int = 0
    missing: list[str] = field(default_factory=list)
    erasures: list[str] = field(default_factory=list)   # this one and any it completed
    files: dict[str, int] = field(default_factory=dict)
    weeks: list[str] = field(default_factory=list)
    reports_rebuilt: list[str] = field(default_factory=list)
    models_tagged: list[str] = field(default_factory=list)
    designs_removed: int = 0


def forget(settings: Settings, item_ids: list[str], who: str | None = None,
           track: bool = True) -> ForgetSummary:
    """Erase ``item_ids`` (ids the home does not hold are listed in ``missing``); complete
    any erasure a crash interrupted first. ``track``: tag models in MLflow."""
    summary = ForgetSummary()
    with store_lock(catalog.lock_path(settings, STORE_COMMIT_LOCK), "erasure"):
        plans = erasure.recover(settings)
        target = erasure.locate(settings, item_ids)
        tombstones = Tombstones.load(settings)   # erased before (or by a run a crash cut)
        summary.already_erased = sum(tombstones.erased(i) for i in target.missing)
        summary.missing = [i for i in target.missing if not tombstones.erased(i)]
        if target.item_ids:
            audit = {"who": who or _who(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                 time.gmtime()),
                     "asked": len(set(item_ids)), "not_held": len(target.missing)}
            done = erasure.plan(settings, target, erasure.new_id(), audit)
            erasure.apply(settings, done)
            plans.append(done)
    for done in plans:
        if track and done.reports:
            _drop_logged_reports(settings, done.reports, done.erasure)
        summary.reports_rebuilt += _rebuild_reports(settings, done.reports, track)
        if track and done.runs:
            summary.models_tagged += tag_models(settings, done.runs, done.erasure)
        if track or not (done.runs or done.reports):   # else the next tracked run tags them
            erasure.discard(settings, done.erasure)
        summary.erasures.append(done.erasure)
        summary.erased += done.items
        summary.weeks = sorted(set(summary.weeks) | set(done.weeks))
        summary.designs_removed += len(done.designs)
        for name, n in done.files.items():
            summary.files[name] = summary.files.get(name, 0) + n
    return summary


def _who() -> str:
    """The person or job behind an erasure: Airflow's run when Airflow runs it."""
    run = os.environ.get("AIRFLOW_CTX_DAG_RUN_ID")
    if run:
        return f"airflow:{os.environ.get('AIRFLOW_CTX_DAG_ID', '?')}/{run}"
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _rebuild_reports(settings: Settings, weeks: list[str], track: bool) -> list[str]:
    if not weeks:
        return []
    from pipeline.report.run import build_report

    for week in weeks:
        build_report(settings, week, track=track)
    return list(weeks)


def _drop_logged_reports(settings: Settings, weeks: list[str], erasure_id: str) -> None:
    """Delete the report artifacts earlier runs logged for these weeks (they show or name
    erased items; the rebuilt report is logged anew), and say so on each run."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    from mlflow.tracking import MlflowClient

    from pipeline.report.run import EXPERIMENT

    client = MlflowClient(settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return
    for week in weeks:
        for run in client.search_runs([experiment.experiment_id],
                                      f"params.week = '{week}'"):
            repository = get_artifact_repository(run.info.artifact_uri)
            if any(entry.path == REPORT_ARTIFACT for entry in repository.list_artifacts()):
                repository.delete_artifacts(REPORT_ARTIFACT)
            client.set_tag(run.info.run_id, ERASED_TAG, erasure_id)


def tag_models(settings: Settings, run_ids: list[str], erasure_id: str) -> list[str]:
    """Tag the runs that learned from erased items, and every model version they registered;
    returns the versions as ``name/version``."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(settings.mlflow_tracking_uri)
    tagged = []
    for run_id in run_ids:
        try:
            client.set_tag(run_id, ERASED_TAG, erasure_id)
        except MlflowException:   # a run deleted from the tracking store: nothing to tag
            continue
        for version in client.search_model_versions(f"run_id = '{run_id}'"):
            client.set_model_version_tag(version.name, version.version, ERASED_TAG, erasure_id)
            tagged.append(f"{version.name}/{version.version}")
    return tagged


def models_to_retrain(settings: Settings) -> list[dict[str, str]]:
    """Registered model versions that learned from erased items, with their aliases."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(settings.mlflow_tracking_uri)
    found = []
    for name in REGISTERED_MODELS:
        for version in client.search_model_versions(f"name = '{name}'"):
            if ERASED_TAG in version.tags:   # searches leave aliases out: fetch the version
                version = client.get_model_version(name, version.version)
                found.append({"model": name, "version": str(version.version),
                              "aliases": ",".join(version.aliases),
                              "erasure": version.tags[ERASED_TAG], "run_id": version.run_id})
    return sorted(found, key=lambda v: (v["model"], int(v["version"])))
