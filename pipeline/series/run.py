"""The series stage: attribute and style shares of the stored items, for the CLI and the
weekly job alike.

``stylecast series`` writes every week of the store (``series/attribute_shares.parquet``
and ``series/style_shares.parquet``); the weekly job writes what was observed up to its
week, both kinds in one file, ``series/week=W/series.parquet``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core import layout, storage
from pipeline.core.errors import UnusableInputError
from pipeline.core.settings import Settings
from pipeline.series.transforms import item_attribute_shares, style_shares, through_week


@dataclass(frozen=True)
class Series:
    items: int
    attributes: pd.DataFrame
    styles: pd.DataFrame | None   # None until styles exist


def measure(settings: Settings, up_to: str | None = None, styles_week: str | None = None,
            min_mean_share: float = 0.0) -> Series:
    """Attribute shares of every item observed up to week ``up_to`` (default: all), and
    style shares once styles exist (the styles of ``styles_week``, default the latest)."""
    items = storage.read_table(settings.path(layout.ITEMS), columns=["iso_week", "attributes"],
                               filter=storage.up_to_week(up_to) if up_to else None)
    if items is None or items.num_rows == 0:
        where = f" in or before {up_to}" if up_to else f" under {settings.path(layout.ITEMS)}"
        raise UnusableInputError(f"no items{where}: run stylecast ingest first")
    weeks = items.column("iso_week").combine_chunks()
    styled = (style_series(settings, weeks, styles_week, up_to)
              if storage.list_files(settings.path(layout.STYLES)) else None)
    return Series(items.num_rows, item_attribute_shares(items, min_mean_share), styled)


def build(settings: Settings, min_mean_share: float = 0.0, out: str | None = None,
          styles_week: str | None = None) -> dict[str, object]:
    """``stylecast series``: every week of the store, attribute and style series apart."""
    measured = measure(settings, styles_week=styles_week, min_mean_share=min_mean_share)
    series = measured.attributes
    out = out or settings.path(layout.SERIES, "attribute_shares.parquet")
    storage.write_frame(series, out)
    summary: dict[str, object] = {
        "items": measured.items, "series": int(series["unique_id"].nunique()),
        "weeks": int(series["ds"].nunique()), "first_week": str(series["ds"].min().date()),
        "last_week": str(series["ds"].max().date()), "out": out}
    if measured.styles is not None:
        style_out = out.rsplit("/", 1)[0] + "/style_shares.parquet"
        storage.write_frame(measured.styles, style_out)
        summary.update(style_series=int(measured.styles["unique_id"].nunique()),
                       style_out=style_out)
    return summary


def week_file(settings: Settings, week: str) -> str:
    return layout.week_path(settings, layout.SERIES, week, "series.parquet")


def build_week(settings: Settings, week: str) -> dict[str, object]:
    """The weekly job's series: both kinds in one file, through the week itself."""
    measured = measure(settings, up_to=week, styles_week=week)
    frames = [measured.attributes, *([measured.styles] if measured.styles is not None else [])]
    combined = through_week(pd.concat(frames, ignore_index=True), week)
    out = week_file(settings, week)
    storage.write_frame(combined, out)
    return {"week": week, "series": int(combined["unique_id"].nunique()),
            "weeks": int(combined["ds"].nunique()), "out": out}


def style_series(settings: Settings, weeks: pa.Array, styles_week: str | None = None,
                 up_to: str | None = None) -> pd.DataFrame:
    """Every embedded item (up to week ``up_to``) assigned to the styles of ``styles_week``
    (default: the latest), so each style's history is measured with one definition."""
    from pipeline.embed.run import read_embeddings
    from pipeline.embed.transforms import vectors_of
    from pipeline.styles.run import centroids_of, read_styles
    from pipeline.styles.transforms import assign

    found = read_styles(settings, styles_week)
    embedded = read_embeddings(settings)
    if up_to:
        embedded = embedded.filter(pc.less_equal(embedded["iso_week"], up_to))
    version = embedded["model_version"][0].as_py()
    styles_version = found["model_version"][0].as_py()
    if version != styles_version:
        raise UnusableInputError(
            f"styles of {found['week'][0].as_py()} were found with encoder v{styles_version} "
            f"but the embeddings are v{version}: run stylecast styles again")
    index, _ = assign(vectors_of(embedded), centroids_of(found))
    style_ids = np.asarray(found["style_id"].to_pylist())
    style_of = pd.DataFrame({"iso_week": embedded["iso_week"].to_pandas(),
                             "style_id": style_ids[index]})
    return style_shares(style_of, weeks)
