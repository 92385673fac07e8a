"""Adapter: the Fashion Product Images catalogue (``styles.csv`` + ``images/<id>.jpg``).

The catalogue has no timestamps, only a ``year`` and a ``season``; an item is dated to the
middle of that season (Northern hemisphere), which is the best the data says. Rows without a
year keep a blank ``observed_at`` so the ingest quarantines them with a reason rather than
inventing a date.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.core.errors import UnusableInputError

SEASON_MID_DATE = {"Winter": "01-15", "Spring": "04-15", "Summer": "07-15", "Fall": "10-15"}
ATTRIBUTES = ("gender", "masterCategory", "subCategory", "articleType", "baseColour",
              "season", "usage", "productDisplayName")


def to_manifest(catalog_dir: Path, licence: str | None = None, uses: str | None = None
                ) -> pd.DataFrame:
    """The catalogue as a manifest; ``licence`` and ``uses``, when given, are stated on every
    row (the catalogue itself states none: its publisher asks to check the licence)."""
    styles_csv = catalog_dir / "styles.csv"
    if not styles_csv.is_file():
        raise UnusableInputError(f"{styles_csv}: not found (expected the catalogue's styles.csv)")
    # A few rows have an extra comma in the display name; the publisher's own advice is to skip.
    styles = pd.read_csv(styles_csv, dtype=str, keep_default_na=False, on_bad_lines="skip")
    missing = [c for c in ("id", "year", "season") if c not in styles.columns]
    if missing:
        raise UnusableInputError(f"{styles_csv}: missing column(s) {', '.join(missing)}")
    year = styles["year"].str.replace(r"\.0$", "", regex=True)
    mid = styles["season"].map(SEASON_MID_DATE).fillna("07-01")
    observed = (year + "-" + mid).where(year.str.fullmatch(r"\d{4}"), "")
    manifest = pd.DataFrame({
        "item_id": "fpi-" + styles["id"],
        "image": "images/" + styles["id"] + ".jpg",
        "observed_at": observed,
        "source": "catalog",
    })
    if licence:
        manifest["licence"] = licence
    if uses:
        manifest["uses"] = uses
    for column in ATTRIBUTES:
        if column in styles.columns:
            manifest[column] = styles[column]
    return manifest
