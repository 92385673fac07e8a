"""Row-level checks of a manifest: pure DataFrame in, DataFrame out, no I/O."""

from __future__ import annotations

import hashlib
import json

import pandas as pd

from pipeline.core.rights import LICENCE_COLUMNS, USES_COLUMN, Policy, parse_uses
from pipeline.core.weeks import day_month_ambiguous, iso_weeks, to_utc
from pipeline.sources.manifest import attribute_columns


def prepare(manifest: pd.DataFrame, default_source: str, first_row: int = 0,
            policy: Policy | None = None) -> pd.DataFrame:
    """Normalise the contract columns and flag rows that fail before any image is read.

    Adds ``row``, ``observed_ts``, ``iso_week``, ``attributes`` (dict of non-blank values),
    ``licence`` and ``uses`` (None when not stated; ``uses`` canonical), ``reason`` and
    ``message`` (blank when the row passed).
    """
    frame = pd.DataFrame({"row": range(first_row, first_row + len(manifest))})
    frame["item_id"] = manifest["item_id"].astype(str).str.strip().to_numpy()
    image = manifest["image"] if "image" in manifest.columns else pd.Series([""] * len(manifest))
    frame["image"] = image.astype(str).str.strip().to_numpy()
    source = manifest["source"] if "source" in manifest.columns else pd.Series([""] * len(manifest))
    frame["source"] = source.astype(str).str.strip().replace("", default_source).to_numpy()
    observed_raw = manifest["observed_at"].astype(str).str.strip().reset_index(drop=True)
    frame["observed_ts"] = to_utc(observed_raw.where(observed_raw != "")).to_numpy()
    frame["iso_week"] = ""
    dated = frame["observed_ts"].notna()
    frame.loc[dated, "iso_week"] = iso_weeks(frame.loc[dated, "observed_ts"])
    frame["attributes"] = _attributes(manifest)
    frame["record_json"] = _records_json(manifest)

    frame["reason"], frame["message"] = "", ""
    _flag(frame, frame["item_id"] == "", "missing_item_id", "item_id is blank")
    blank_date = observed_raw.to_numpy() == ""
    _flag(frame, blank_date, "missing_date", "observed_at is blank")
    bad = (~dated) & ~blank_date
    frame.loc[bad & (frame["reason"] == ""), "message"] = (
        "observed_at " + observed_raw[bad].map(repr) + " is not a date/time"
    )
    frame.loc[bad & (frame["reason"] == ""), "reason"] = "bad_date"
    # Parsed one way, such a row would land silently in the wrong week.
    ambiguous = day_month_ambiguous(observed_raw).to_numpy()
    frame.loc[ambiguous & (frame["reason"] == ""), "message"] = (
        "observed_at " + observed_raw[ambiguous].map(repr)
        + " is a different date day-first and month-first; write YYYY-MM-DD")
    frame.loc[ambiguous & (frame["reason"] == ""), "reason"] = "ambiguous_date"
    _rights(frame, manifest, policy or Policy())
    return frame


def _column(manifest: pd.DataFrame, names: tuple[str, ...]) -> pd.Series:
    name = next((n for n in names if n in manifest.columns), None)
    if name is None:
        return pd.Series([""] * len(manifest))
    return manifest[name].fillna("").astype(str).str.strip().reset_index(drop=True)


def _rights(frame: pd.DataFrame, manifest: pd.DataFrame, policy: Policy) -> None:
    """Store what the row states about its rights; a licence the policy does not name or a
    word that is not a use is the row's reason (the policy decides uses at read time)."""
    licences = _column(manifest, LICENCE_COLUMNS)
    uses = _column(manifest, (USES_COLUMN,))
    frame["licence"] = licences.where(licences != "", None).to_numpy()
    canonical: list[str | None] = []
    for n, text in enumerate(uses):
        if not text:
            canonical.append(None)
            continue
        try:
            canonical.append(",".join(parse_uses(text)))
        except ValueError as err:
            canonical.append(None)
            _flag_row(frame, n, "unknown_use", f"uses {text!r}: {err}")
    frame["uses"] = canonical
    for n, licence in enumerate(licences):
        if licence and not policy.knows_licence(licence):
            _flag_row(frame, n, "unknown_licence",
                      f"licence {licence!r} is not in the rights policy: add it with "
                      "`stylecast rights set --licence ... --uses ...`, then ingest again")


def _flag_row(frame: pd.DataFrame, n: int, reason: str, message: str) -> None:
    index = frame.index[n]
    if frame.at[index, "reason"] == "":
        frame.at[index, "reason"] = reason
        frame.at[index, "message"] = message


def _flag(frame: pd.DataFrame, mask, reason: str, message: str) -> None:
    mask = pd.Series(mask, index=frame.index) & (frame["reason"] == "")
    frame.loc[mask, "reason"] = reason
    frame.loc[mask, "message"] = message


def _attributes(manifest: pd.DataFrame) -> list[dict[str, str]]:
    columns = attribute_columns(manifest)
    if not columns:
        return [{} for _ in range(len(manifest))]
    values = manifest[columns].astype(str).apply(lambda col: col.str.strip())
    return [
        {k: v for k, v in zip(columns, row, strict=True) if v}
        for row in values.itertuples(index=False, name=None)
    ]


def _records_json(manifest: pd.DataFrame) -> list[str]:
    """Each row as a JSON object, kept with quarantined rows so nothing is lost."""
    if manifest.empty:
        return []
    return manifest.to_json(orient="records", lines=True, force_ascii=False).splitlines()


def label_identity(observed_ts: pd.Timestamp, source: str, attributes: dict[str, str]) -> str:
    """Content hash of an image-less observation, so a reused item_id can still be caught."""
    payload = {"observed_at": observed_ts.isoformat(), "source": source, "attributes": attributes}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
