"""Adapter: StreetStyle-27K label-only observations (GeoStyle project).

The photos are not available, so each row becomes an image-less observation: a real, dated
signal of what people wore where. Bounding boxes and coordinates are dropped; the 12 visual
attributes and the city are kept (blank means "not labelled" and stays blank).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.core.errors import UnusableInputError

ATTRIBUTES = (
    "clothing_pattern", "major_color", "wearing_necktie", "collar_presence", "wearing_scarf",
    "sleeve_length", "neckline_shape", "clothing_category", "wearing_jacket", "wearing_hat",
    "wearing_glasses", "multiple_layers",
)


def to_manifest(observations_csv: Path) -> pd.DataFrame:
    if not observations_csv.is_file():
        raise UnusableInputError(f"{observations_csv}: not found")
    raw = pd.read_csv(observations_csv, dtype=str, keep_default_na=False)
    missing = [c for c in ("id", "created_time", "city_id", *ATTRIBUTES) if c not in raw.columns]
    if missing:
        raise UnusableInputError(f"{observations_csv}: missing column(s) {', '.join(missing)}")
    manifest = pd.DataFrame({
        "item_id": "ss27k-" + raw["id"],
        "observed_at": raw["created_time"],
        "source": "social",
        "city": "city-" + raw["city_id"],
    })
    for column in ATTRIBUTES:
        manifest[column] = raw[column]
    return manifest
