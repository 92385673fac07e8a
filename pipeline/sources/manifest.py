"""The manifest contract: one row per observation.

Required: ``item_id``, ``observed_at``. Optional: ``image`` (a path relative to an images
root, or a URI; blank or absent for label-only observations), ``source``. Every other
column is an attribute and is kept.
"""

from __future__ import annotations

import pandas as pd

from pipeline.core import layout, storage
from pipeline.core.errors import UnusableInputError

REQUIRED_COLUMNS = ("item_id", "observed_at")
RESERVED_COLUMNS = ("item_id", "image", "observed_at", "source")


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
