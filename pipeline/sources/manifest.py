"""The manifest contract: one row per observation.

Required: ``item_id``, ``observed_at``. Optional: ``image`` (a path relative to an images
root, or a URI; blank or absent for label-only observations), ``source``, and the rights
columns ``licence`` (or ``license``) and ``uses`` (``core.rights``). Every other column is an
attribute and is kept.
"""

from __future__ import annotations

import json

import pandas as pd

from pipeline.core import catalog, layout, storage
from pipeline.core.errors import UnusableInputError
from pipeline.core.rights import LICENCE_COLUMNS, USES_COLUMN
from pipeline.core.settings import Settings

REQUIRED_COLUMNS = ("item_id", "observed_at")
RESERVED_COLUMNS = ("item_id", "image", "observed_at", "source", *LICENCE_COLUMNS, USES_COLUMN)


def attribute_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in RESERVED_COLUMNS]


def read_manifest(uri: str) -> tuple[pd.DataFrame, str]:
    """Read a CSV or Parquet manifest as strings; returns it with a key of its content.

    The key (a content hash) names everything the ingest of this manifest writes, which
    is what makes re-running the same manifest replace rather than duplicate.
    """
    raw = storage.read_input(uri, "manifest")
    frame = _parse(raw, uri)
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise UnusableInputError(
            f"manifest {uri}: missing required column(s) {', '.join(missing)} "
            f"(found: {', '.join(frame.columns) or 'none'})"
        )
    if frame.columns.duplicated().any():
        dupes = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise UnusableInputError(f"manifest {uri}: duplicated column(s) {', '.join(dupes)}")
    if all(c in frame.columns for c in LICENCE_COLUMNS):
        raise UnusableInputError(f"manifest {uri}: both 'licence' and 'license' columns; "
                                 "keep one")
    return frame, layout.content_key(raw)


def _parse(raw: bytes, uri: str) -> pd.DataFrame:
    try:
        return storage.parse_frame(raw, as_strings=True)
    except UnicodeDecodeError:
        raise UnusableInputError(
            f"manifest {uri}: neither Parquet nor UTF-8 CSV (unreadable format)"
        ) from None
    except Exception as err:  # pandas/pyarrow raise many parser error types
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UnusableInputError(f"manifest {uri}: unreadable ({first_line})") from None


def write_manifest(frame: pd.DataFrame, out: str, settings: Settings,
                   images_root: str | None = None) -> dict[str, object]:
    """Write a manifest (Parquet for ``.parquet``, else CSV) that a source command made.

    When its image paths are relative to a folder other than the manifest's own, that
    folder is recorded in the home (``catalog.MANIFEST_ROOTS``) under the manifest's content
    key, so ``stylecast ingest`` of this very file needs no ``--images-root``.
    """
    data = storage.frame_bytes(frame, csv=not out.endswith(".parquet"))
    storage.write_bytes_atomic(data, out)
    summary: dict[str, object] = {"manifest": out, "rows": len(frame)}
    if images_root:
        record = {"images_root": images_root, "manifest": out}
        catalog.MANIFEST_ROOTS.write_bytes(settings, json.dumps(record).encode(),
                                           key=layout.content_key(data))
        summary["images_root"] = images_root
    return summary


def recorded_images_root(settings: Settings, manifest_key: str) -> str | None:
    """The images root a source command recorded for the manifest with this key, if any."""
    record = catalog.MANIFEST_ROOTS.read_json(settings, key=manifest_key)
    return record["images_root"] if record else None
