"""What the ingest DAG's poll finds in a drop folder, at a cost flat in the folder's history.

A ledger per drop folder (``catalog.DROP_LEDGER``) remembers each file by name and stamp
(size and modification time, or ETag), with its content key and state. A poll lists the
folder, reads only files that are new or whose stamp changed, and hands on those not yet
settled:

- ``ingested``: the ingest log holds the manifest's summary; never listed again.
- ``refused``: the manifest as a whole was unusable (``record_refusal``); the failed task
  reported it once, and it is not listed again until the file changes.
- ``retry``: ingested, but some rows were quarantined for a fault that may pass (a remote
  image that timed out or answered 5xx); listed again, at most ``MAX_RETRIES`` times.
- ``pending``: not ingested yet (new, or its ingest failed and Airflow gave up on it).
"""

from __future__ import annotations

import json

from pipeline.core import catalog, layout, storage
from pipeline.core.settings import Settings
from pipeline.ingest import RETRYABLE_REASONS

MANIFEST_PATTERNS = ("*.csv", "*.parquet")
MAX_RETRIES = 5   # re-ingests of one manifest for its retryable rows; then they stay quarantined
SETTLED = ("ingested", "refused")


def _ledger_key(drop: str) -> str:
    return layout.content_key(drop.rstrip("/").encode())


def read_ledger(settings: Settings, drop: str) -> dict[str, dict]:
    found = catalog.DROP_LEDGER.read_json(settings, key=_ledger_key(drop))
    return found["files"] if found else {}


def new_manifests(settings: Settings, drop: str) -> list[str]:
    """The manifests in ``drop`` to ingest now, oldest name first."""
    stamps = storage.file_stamps(drop, MANIFEST_PATTERNS)
    before = read_ledger(settings, drop)
    after, todo = {}, []
    for path, stamp in stamps.items():
        entry = before.get(path)
        if entry is None or entry["stamp"] != stamp:   # only new or changed files are read
            entry = {"stamp": stamp, "state": "pending", "retries": 0,
                     "key": layout.content_key(storage.read_bytes(path))}
        if entry["state"] not in SETTLED:
            entry = _settle(settings, entry)
        after[path] = entry
        if entry["state"] not in SETTLED:
            todo.append(path)
    if after != before:
        catalog.DROP_LEDGER.write_bytes(
            settings, json.dumps({"drop": drop, "files": after}).encode(),
            key=_ledger_key(drop))
    return todo


def _settle(settings: Settings, entry: dict) -> dict:
    """The entry's state from what the ingest wrote since it was last listed."""
    summary = catalog.INGEST_LOG.read_json(settings, key=entry["key"])
    if summary is not None:
        by_reason = summary.get("by_reason", {})
        retryable = sum(n for reason, n in by_reason.items() if reason in RETRYABLE_REASONS)
        if retryable and entry["retries"] < MAX_RETRIES:
            return {**entry, "state": "retry", "retries": entry["retries"] + 1}
        return {**entry, "state": "ingested"}
    if catalog.INGEST_REFUSALS.exists(settings, key=entry["key"]):
        return {**entry, "state": "refused"}
    return {**entry, "state": "pending"}


def record_refusal(settings: Settings, manifest: str, reason: str) -> None:
    """Remember that ``manifest`` (as its content is now) cannot be ingested, and why."""
    try:
        key = layout.content_key(storage.read_bytes(manifest))
    except OSError:
        return   # gone or unreadable: the poll will not list it as it is either
    catalog.INGEST_REFUSALS.write_bytes(
        settings, json.dumps({"manifest": manifest, "reason": reason}).encode(), key=key)
