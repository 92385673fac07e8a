"""The home's layout: dataset folders, the ISO-week partition key, content keys.

Weekly datasets are hive-partitioned, ``<dataset>/week=2025-W14/<file>``; whatever a run
writes for an input is named by a key of that input's content, so a re-run replaces its
own files instead of adding new ones.
"""

from __future__ import annotations

import hashlib

from pipeline.core.settings import Settings

ITEMS = "items"
QUARANTINE = "quarantine"
DUPLICATES = "duplicates"
INGEST_LOG = "ingest-log"
EMBEDDINGS = "embeddings"
STYLES = "styles"
SERIES = "series"
SERIES_COUNTS = "series-counts"  # per-week counts the weekly series add up
FORECASTS = "forecasts"
CONCEPTS = "concepts"
REPORTS = "reports"
BACKTESTS = "backtests"
MANIFEST_ROOTS = "manifest-roots"  # images roots recorded for manifests made here

PARTITION_KEY = "week"


def week_partition(week: str) -> str:
    """The folder of one week inside a weekly dataset: ``week=2025-W14``."""
    return f"{PARTITION_KEY}={week}"


def partition_week(path: str) -> str | None:
    """The week of the partition folder a file path lies in, or None outside one."""
    for part in path.split("/"):
        if part.startswith(f"{PARTITION_KEY}="):
            return part.removeprefix(f"{PARTITION_KEY}=")
    return None


def week_path(settings: Settings, dataset: str, week: str, *name: str) -> str:
    """A location inside one week's partition of a dataset under the home."""
    return settings.path(dataset, week_partition(week), *name)


def content_key(*chunks: bytes) -> str:
    """16 hex digits of the SHA-256 of the content: short enough for file names, and with
    2^64 values no collision among the inputs one home will ever see."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()[:16]


def manifest_root(settings: Settings, manifest_key: str) -> str:
    """Where the images root of a manifest that a ``stylecast sources`` command wrote is
    recorded. It lives in the home, not in the manifest: a manifest from someone else must
    not choose which folder of this machine its paths are read under."""
    return settings.path(MANIFEST_ROOTS, f"{manifest_key}.json")


def ingest_log(settings: Settings, manifest_key: str) -> str:
    """The summary of the last ingest of the manifest with this content key."""
    return settings.path(INGEST_LOG, f"{manifest_key}.json")
