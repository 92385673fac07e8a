"""The ISO-week partition key and content keys (``core.catalog`` declares the datasets).

Weekly datasets are hive-partitioned, ``<dataset>/week=2025-W14/<file>``; whatever a run
writes for an input is named by a key of that input's content, so a re-run replaces its
own files instead of adding new ones.
"""

from __future__ import annotations

import hashlib

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


def content_key(*chunks: bytes) -> str:
    """16 hex digits of the SHA-256 of the content: short enough for file names, and with
    2^64 values no collision among the inputs one home will ever see."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()[:16]
